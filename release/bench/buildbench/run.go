package buildbench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/distro-io/distro/release/bench"
	"github.com/distro-io/distro/release/build"
	"github.com/distro-io/distro/release/patchset"
	"github.com/distro-io/distro/release/steps/checksums"
)

// RunOptions say what bench:build measures.
type RunOptions struct {
	// Build is the real build; its GoWork is the patched workspace and Output a scratch
	// path (the real build/distro is not overwritten).
	Build      build.Options
	Modules    []patchset.Source
	PatchesDir string
	Module     string // whose patch the warm rebuild changes
	GoWorkSum  string
	Scratch    string
	Cold       bool // include a build with an empty build cache
	// Binary and Download are the built build/distro and dist/distro whose sizes are
	// reported.
	Binary, Download string
}

// Run measures every part and prints one report. Each build runs once: they take minutes
// and the report says n=1.
func Run(ctx context.Context, o RunOptions, w io.Writer) error {
	r, err := bench.NewReport("bench:build", 1)
	if err != nil {
		return err
	}
	defer r.WriteTo(w)
	if o.Cold {
		cold := o.Build
		cold.Output = filepath.Join(o.Scratch, "cold", "distro")
		res, err := Cold(ctx, cold, o.Scratch)
		if err != nil {
			return err
		}
		r.Value("cold build (empty GOCACHE)", res.String())
	} else {
		r.Note("cold build skipped: BENCH_COLD=1 includes it (about 25 CPU-minutes)")
	}

	warm, err := WarmRebuild(ctx, WarmOptions{
		Build: withOutput(o.Build, filepath.Join(o.Scratch, "warm", "distro")), Modules: o.Modules,
		PatchesDir: o.PatchesDir, Module: o.Module, Scratch: filepath.Join(o.Scratch, "warm"),
		GoWorkSum: o.GoWorkSum, Baseline: true,
	})
	if err != nil {
		return err
	}
	r.Value("rebuild, nothing changed", warm.Baseline.String())
	r.Value("warm rebuild, one patch changed", warm.Changed.String())
	r.Note("the warm rebuild appends a comment line to %s, a file %s changes", warm.File, warm.Patch)

	s, err := MeasureSizes(o.Binary, o.Download)
	if err != nil {
		return err
	}
	r.Value("binary "+o.Binary, sizeString(s.Binary))
	r.Value("payload (compressed)", sizeString(s.Payload))
	r.Value("payload unpacked", sizeString(s.Unpacked))
	r.Value("download "+o.Download, sizeString(s.Download))

	n, err := Packages(ctx, o.Build.ModuleDir, o.Build.GoWork)
	if err != nil {
		return err
	}
	r.Value("packages linked (non-standard)", fmt.Sprint(n))

	rep, err := Reproducible(ctx, o.Build, filepath.Join(o.Scratch, "repro"))
	if err != nil {
		return err
	}
	r.Value("link 1 sha256", rep.Sums[0]+"  "+rep.Times[0].String())
	r.Value("link 2 sha256", rep.Sums[1]+"  "+rep.Times[1].String())
	verdict := "yes"
	if !rep.Same {
		verdict = fmt.Sprintf("NO: first difference at byte %d", rep.FirstDiff)
	}
	r.Value("reproducible", verdict)
	if other, err := checksums.SHA256File(warm.BaselineOutput); err == nil {
		same := "same"
		if other != rep.Sums[0] {
			same = "DIFFERENT: " + other
		}
		r.Value("same sources in another build dir", same)
	}
	return nil
}

func withOutput(o build.Options, out string) build.Options {
	o.Output = out
	return o
}

func sizeString(b uint64) string {
	return fmt.Sprintf("%d bytes (%s)", b, bench.FormatBytes(b))
}
