// Package config fills a command's flags from the environment and from configuration files.
//
// The FlagSet is the only list of settings: a file key is a long flag name, an environment
// variable is DISTRO_<FLAG_NAME> with dashes as underscores. Precedence, highest first:
// command line, environment, files, flag defaults. Files are the main file (--config, -c or
// DISTRO_CONFIG; /etc/distro/config.yaml by default, where a missing file is fine) followed by
// <file>.d/*.yaml in name order, each overriding the ones before key by key; a key written as
// "name+" appends to a list from an earlier file instead of replacing it.
//
// Every problem (unknown key, bad value, unreadable or malformed file) is collected and returned
// together as an *Error, so a user fixes the file once, and the command refuses to start.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/distro-io/distro/distro/version"
)

// ConfigFlag names the flag that selects the main configuration file.
const ConfigFlag = "config"

// DefaultFile is /etc/<program>/config.yaml.
var DefaultFile = filepath.Join(version.ConfigDir, "config.yaml")

// EnvPrefix starts every environment variable that sets a flag.
var EnvPrefix = strings.ToUpper(version.Program) + "_"

// EnvName is the environment variable for a flag: node-label → DISTRO_NODE_LABEL.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// AddConfigFlag registers --config/-c on fs.
func AddConfigFlag(fs *pflag.FlagSet) {
	fs.StringP(ConfigFlag, "c", DefaultFile, "configuration file; its keys are the long flag names (env "+EnvName(ConfigFlag)+")")
}

// Loader applies the environment and configuration files to a FlagSet the command line has
// already been parsed into.
type Loader struct {
	// Env is the environment as KEY=VALUE; os.Environ() when nil.
	Env []string
}

// Source says where a flag's value came from.
type Source struct {
	// Kind is "flag", "env", "file" or "default".
	Kind string
	// Where is the variable name for "env" and the file for "file".
	Where string
	// Line is the line in the file for "file".
	Line int
}

func (s Source) String() string {
	switch s.Kind {
	case "env":
		return "environment variable " + s.Where
	case "file":
		return fmt.Sprintf("%s:%d", s.Where, s.Line)
	}
	return s.Kind
}

// Result tells which files were read and where each flag's value came from.
type Result struct {
	// Files lists the configuration files read, in the order applied.
	Files   []string
	sources map[string]Source
}

// Source returns where flag got its value.
func (r *Result) Source(flag string) Source {
	if s, ok := r.sources[flag]; ok {
		return s
	}
	return Source{Kind: "default"}
}

// Load applies environment and files below what the command line set. It returns the first
// *Error holding every problem found; on error the FlagSet may be partly filled and must not be used.
func (l Loader) Load(flags *pflag.FlagSet) (*Result, error) {
	env := envMap(l.Env)
	res := &Result{sources: map[string]Source{}}
	var problems []Problem

	fromCLI := map[string]bool{}
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			fromCLI[f.Name] = true
			res.sources[f.Name] = Source{Kind: "flag"}
		}
	})

	path, explicit := l.configPath(flags, env, fromCLI)
	settings, files, fileProblems := readFiles(path, explicit, flags)
	res.Files = files
	problems = append(problems, fileProblems...)

	names := make([]string, 0)
	flags.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	for _, name := range names {
		if fromCLI[name] || name == ConfigFlag {
			continue
		}
		f := flags.Lookup(name)
		if value, ok := env[EnvName(name)]; ok {
			if err := f.Value.Set(value); err != nil {
				problems = append(problems, Problem{Source: "environment variable " + EnvName(name), Key: name,
					Message: fmt.Sprintf("invalid value %q: expected %s (%v)", value, describeType(f.Value.Type()), err)})
				continue
			}
			f.Changed = true
			res.sources[name] = Source{Kind: "env", Where: EnvName(name)}
			continue
		}
		if s, ok := settings[name]; ok {
			if p := s.apply(f); p != nil {
				problems = append(problems, *p)
				continue
			}
			f.Changed = true
			res.sources[name] = Source{Kind: "file", Where: s.file, Line: s.line}
		}
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return res, &Error{Problems: problems}
	}
	return res, nil
}

// configPath returns the main file and whether the user named it (then it must exist).
func (l Loader) configPath(flags *pflag.FlagSet, env map[string]string, fromCLI map[string]bool) (string, bool) {
	f := flags.Lookup(ConfigFlag)
	switch {
	case f != nil && fromCLI[ConfigFlag]:
		return f.Value.String(), true
	case env[EnvName(ConfigFlag)] != "":
		return env[EnvName(ConfigFlag)], true
	case f != nil:
		return f.DefValue, false
	}
	return DefaultFile, false
}

func envMap(environ []string) map[string]string {
	if environ == nil {
		environ = os.Environ()
	}
	m := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			m[k] = v
		}
	}
	return m
}

// readFiles reads the main file and its drop-ins and merges them key by key.
func readFiles(path string, explicit bool, flags *pflag.FlagSet) (map[string]*setting, []string, []Problem) {
	merged := map[string]*setting{}
	var files []string
	var problems []Problem

	paths := []string{path}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		paths = nil
		if explicit {
			problems = append(problems, Problem{Source: path, Message: "configuration file does not exist"})
		}
	}
	dropIns, err := filepath.Glob(filepath.Join(path+".d", "*.yaml"))
	if err != nil {
		problems = append(problems, Problem{Source: path + ".d", Message: err.Error()})
	}
	sort.Strings(dropIns)
	paths = append(paths, dropIns...)

	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			problems = append(problems, Problem{Source: p, Message: "cannot read: " + err.Error()})
			continue
		}
		files = append(files, p)
		settings, fileProblems := parseFile(p, data, flags)
		problems = append(problems, fileProblems...)
		for _, s := range settings {
			if prev, ok := merged[s.name]; ok && s.appendTo {
				merged[s.name] = prev.appended(s)
				continue
			}
			merged[s.name] = s
		}
	}
	return merged, files, problems
}
