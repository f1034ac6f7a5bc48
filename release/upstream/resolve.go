package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/dirhash"
)

// Options says how the go command is run.
type Options struct {
	// Env is added to the process environment of every go command, later entries winning:
	// GOPROXY, GOSUMDB, GONOSUMDB, GOMODCACHE, GOFLAGS and the rest are honoured as usual.
	Env []string
	// Jobs bounds how many modules are downloaded at once; 0 means 4.
	Jobs int
}

func (o Options) jobs() int {
	if o.Jobs > 0 {
		return o.Jobs
	}
	return 4
}

// download is what `go mod download -json` prints for one module.
type download struct {
	Path, Version, Error string
	Zip, Dir, Sum        string
}

// Resolve downloads path@version through the go command and returns the module with the h1:
// hash of its zip, and the directory holding its extracted source. The hash is recomputed
// from the zip and from the extracted tree rather than taken from the go command's records,
// so a module cache modified after download is refused.
func Resolve(ctx context.Context, path, version string, opts Options) (Module, string, error) {
	m := Module{Path: path, Version: version}
	d, err := opts.download(ctx, m)
	if err != nil {
		return m, "", err
	}
	if d.Zip == "" || d.Dir == "" || d.Sum == "" {
		return m, "", fmt.Errorf("module %s: go mod download reported no zip, directory or sum", m)
	}
	zipSum, err := dirhash.HashZip(d.Zip, dirhash.Hash1)
	if err != nil {
		return m, "", fmt.Errorf("module %s: hashing %s: %w", m, d.Zip, err)
	}
	if zipSum != d.Sum {
		return m, "", fmt.Errorf("module %s: zip %s in the module cache hashes to %s, but the go command recorded %s when it downloaded it: the cache was modified (go clean -modcache removes it)", m, d.Zip, zipSum, d.Sum)
	}
	dirSum, err := dirhash.HashDir(d.Dir, m.String(), dirhash.Hash1)
	if err != nil {
		return m, "", fmt.Errorf("module %s: hashing %s: %w", m, d.Dir, err)
	}
	if dirSum != zipSum {
		return m, "", fmt.Errorf("module %s: extracted source %s hashes to %s, but its zip hashes to %s: the module cache was modified (go clean -modcache removes it)", m, d.Dir, dirSum, zipSum)
	}
	m.Sum = zipSum
	return m, d.Dir, nil
}

// download runs `go mod download -json` outside any module, so neither this repository's
// go.mod nor a go.work changes what is fetched.
func (o Options) download(ctx context.Context, m Module) (*download, error) {
	dir, err := os.MkdirTemp("", "upstream-download-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", m.String())
	cmd.Dir = dir
	cmd.Env = o.environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var d download
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil {
		return nil, fmt.Errorf("module %s: go mod download: %v: %s", m, runErr, strings.TrimSpace(stderr.String()))
	}
	if d.Error != "" {
		return nil, fmt.Errorf("module %s: go mod download: %s", m, d.Error)
	}
	if runErr != nil {
		return nil, fmt.Errorf("module %s: go mod download: %v: %s", m, runErr, strings.TrimSpace(stderr.String()))
	}
	return &d, nil
}

// environ is the process environment plus Options.Env, with GOFLAGS forced to -mod=mod
// (its other flags kept) and workspaces off.
func (o Options) environ() []string {
	env := append(os.Environ(), o.Env...)
	var goflags []string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOFLAGS="); ok {
			goflags = strings.Fields(v)
		}
	}
	kept := []string{}
	for _, f := range goflags {
		if !strings.HasPrefix(f, "-mod=") {
			kept = append(kept, f)
		}
	}
	kept = append(kept, "-mod=mod")
	return append(env, "GOFLAGS="+strings.Join(kept, " "), "GOWORK=off")
}

// each runs fn for indexes 0..n-1, at most jobs at a time.
func each(n, jobs int, fn func(i int)) {
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}
