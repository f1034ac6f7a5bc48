package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// Result is the outcome of verifying one module.
type Result struct {
	Module Module
	// Dir is the extracted source, set when the module verified.
	Dir string
	Err error
}

// VerifyEach downloads every module of the lock (Options.Jobs at a time) and compares the
// hash of what arrived with the lock. Results come back in lock order.
func VerifyEach(ctx context.Context, lock *Lock, opts Options) []Result {
	results := make([]Result, len(lock.Modules))
	each(len(lock.Modules), opts.jobs(), func(i int) {
		m := lock.Modules[i]
		results[i] = Result{Module: m}
		if m.Sum == "" {
			results[i].Err = fmt.Errorf("module %s: the lock records no sum (mage upstream:refresh fills it in)", m)
			return
		}
		got, dir, err := Resolve(ctx, m.Path, m.Version, opts)
		switch {
		case err != nil:
			results[i].Err = err
		case got.Sum != m.Sum:
			results[i].Err = fmt.Errorf("module %s: hash mismatch: the lock has %s, the downloaded module hashes to %s", m, m.Sum, got.Sum)
		default:
			results[i].Dir = dir
		}
	})
	return results
}

// Verify is VerifyEach reporting only the failures, joined.
func Verify(ctx context.Context, lock *Lock, opts Options) error {
	var errs []error
	for _, r := range VerifyEach(ctx, lock, opts) {
		errs = append(errs, r.Err)
	}
	return errors.Join(errs...)
}

// Report writes one line per result and a summary, and returns the failures joined.
func Report(w io.Writer, results []Result) error {
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
			fmt.Fprintf(w, "FAIL  %-9s %s\n", r.Module.Role, r.Module)
			continue
		}
		fmt.Fprintf(w, "ok    %-9s %s %s\n", r.Module.Role, r.Module, r.Module.Sum)
	}
	fmt.Fprintf(w, "%d modules: %d verified, %d failed\n", len(results), len(results)-len(errs), len(errs))
	return errors.Join(errs...)
}

// CheckGoMod checks that go.mod builds against the locked sources: the kubernetes and linked
// modules required at their locked versions, and every staging module replaced by itself at
// its locked version.
func CheckGoMod(lock *Lock, goModPath string) error {
	data, err := os.ReadFile(goModPath)
	if err != nil {
		return err
	}
	f, err := modfile.Parse(goModPath, data, nil)
	if err != nil {
		return err
	}
	var errs []error
	report := func(line int, m Module, format string, args ...any) {
		pos := goModPath
		if line > 0 {
			pos = fmt.Sprintf("%s:%d", goModPath, line)
		}
		errs = append(errs, fmt.Errorf("%s: module %s: %s", pos, m.Path, fmt.Sprintf(format, args...)))
	}
	for _, m := range lock.Modules {
		req := findRequire(f, m.Path)
		switch m.Role {
		case RoleKubernetes, RoleLinked:
			if req == nil {
				report(0, m, "not required (the lock has %s)", m.Version)
				continue
			}
			if req.Mod.Version != m.Version {
				report(req.Syntax.Start.Line, m, "required at %s, the lock has %s", req.Mod.Version, m.Version)
			}
			if rep := findReplace(f, req.Mod); rep != nil && rep.New != (module.Version{Path: m.Path, Version: m.Version}) {
				report(rep.Syntax.Start.Line, m, "replaced by %s, the lock has %s", rep.New, m.Version)
			}
		case RoleStaging:
			wanted := module.Version{Path: m.Path}
			if req != nil {
				wanted = req.Mod
			}
			rep := findReplace(f, wanted)
			switch {
			case rep == nil:
				report(0, m, "not replaced (the lock has %s)", m.Version)
			case rep.New.Path != m.Path:
				report(rep.Syntax.Start.Line, m, "replaced by %s, not by the module itself at %s", rep.New, m.Version)
			case rep.New.Version != m.Version:
				report(rep.Syntax.Start.Line, m, "replaced at %s, the lock has %s", rep.New.Version, m.Version)
			}
		}
	}
	return errors.Join(errs...)
}

func findRequire(f *modfile.File, path string) *modfile.Require {
	for _, r := range f.Require {
		if r.Mod.Path == path {
			return r
		}
	}
	return nil
}

// findReplace returns the replace directive that applies to mv: one for exactly that version
// before one for all versions, as the go command picks them.
func findReplace(f *modfile.File, mv module.Version) *modfile.Replace {
	var all *modfile.Replace
	for _, r := range f.Replace {
		switch {
		case r.Old.Path != mv.Path:
		case r.Old.Version != "" && r.Old.Version == mv.Version:
			return r
		case r.Old.Version == "":
			all = r
		}
	}
	return all
}
