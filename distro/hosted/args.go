package hosted

import (
	"fmt"
	"sort"
	"strings"
)

// Args applies "flag=value" overrides (from an --extra-…-arg option named option) to the
// defaults and renders --flag=value arguments in a stable order. A flag given with a leading
// "-" is removed instead ("-profiling" drops --profiling), for defaults a user must be able to
// take away.
func Args(option string, flags map[string]string, extra []string) ([]string, error) {
	for _, e := range extra {
		if name, ok := strings.CutPrefix(e, "-"); ok && !strings.Contains(name, "=") && !strings.HasPrefix(name, "-") {
			delete(flags, name)
			continue
		}
		name, value, ok := strings.Cut(strings.TrimLeft(e, "-"), "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s %q: expected flag=value (or -flag to drop a default)", option, e)
		}
		flags[name] = value
	}
	names := make([]string, 0, len(flags))
	for n := range flags {
		names = append(names, n)
	}
	sort.Strings(names)
	args := make([]string, 0, len(names))
	for _, n := range names {
		args = append(args, "--"+n+"="+flags[n])
	}
	return args, nil
}

// FlagValue is the value args give flag, or fallback when they do not set it.
func FlagValue(args []string, flag, fallback string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
			return v
		}
	}
	return fallback
}
