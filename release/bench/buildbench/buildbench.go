// Package buildbench measures the build of the distro binary: cold and warm build times,
// the sizes a user downloads and unpacks, the package count, and whether two builds of
// the same sources are byte for byte identical.
//
// Every part takes plain build.Options, so it runs the same on the real module and on a
// tiny one in tests.
package buildbench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/distro-io/distro/release/build"
)

// Result is one timed go build.
type Result struct {
	Wall time.Duration
	// CPU is user plus system time of the go command and every compiler and linker it
	// waited for: on a shared machine it drifts less than the wall time.
	CPU time.Duration
	// PeakRSS is the largest resident size of any one process of the build (the link,
	// for a big binary).
	PeakRSS uint64
}

func (r Result) String() string {
	return fmt.Sprintf("%s wall, %s CPU, peak %.0f MiB", r.Wall.Round(100*time.Millisecond), r.CPU.Round(100*time.Millisecond), float64(r.PeakRSS)/(1<<20))
}

// Timed runs the distro build opts describes, with the release flags build.Command sets.
func Timed(ctx context.Context, opts build.Options) (Result, error) {
	cmd, err := build.Command(ctx, opts)
	if err != nil {
		return Result{}, err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	r := Result{Wall: time.Since(start)}
	if err != nil {
		return r, fmt.Errorf("go build %s into %s: %w\n%s", build.MainPackage, opts.Output, err, out.Bytes())
	}
	st := cmd.ProcessState
	r.CPU = st.UserTime() + st.SystemTime()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSS = uint64(ru.Maxrss) * 1024
	}
	return r, nil
}

// Cold builds with an empty build cache made under scratch and removed afterwards; the
// module cache stays as it is, so downloads are not part of the time.
func Cold(ctx context.Context, opts build.Options, scratch string) (Result, error) {
	cache, err := os.MkdirTemp(scratch, "gocache-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(cache)
	opts.Env = append(append([]string(nil), opts.Env...), "GOCACHE="+cache)
	return Timed(ctx, opts)
}
