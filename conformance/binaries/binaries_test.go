package binaries

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLDFlags(t *testing.T) {
	flags, err := LDFlags("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-X k8s.io/component-base/version.gitVersion=v1.37.2",
		"-X k8s.io/component-base/version.gitMajor=1",
		"-X k8s.io/component-base/version.gitMinor=37",
		"-X k8s.io/client-go/pkg/version.gitVersion=v1.37.2",
		"-s -w",
	} {
		if !strings.Contains(flags, want) {
			t.Errorf("ldflags lack %q: %s", want, flags)
		}
	}
	for _, bad := range []string{"", "1.37.2", "v1", "v1.37"} {
		if _, err := LDFlags(bad); err == nil {
			t.Errorf("LDFlags(%q) accepted", bad)
		}
	}
}

// fakeSource lays out the files the cache key reads.
func fakeSource(t *testing.T) *Builder {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"go.mod":                      "module example.com/x\n\ngo 1.27\n",
		"go.sum":                      "",
		"upstream.lock":               "revision: 1\n",
		"build/go.work":               "go 1.27\n\nuse ..\n",
		"patches/k8s.io/kubernetes/1": "diff\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &Builder{Source: Source{
		ModuleDir:         dir,
		GoWork:            filepath.Join(dir, "build", "go.work"),
		LockFile:          filepath.Join(dir, "upstream.lock"),
		PatchesDir:        filepath.Join(dir, "patches"),
		KubernetesVersion: "v1.37.2",
	}, CacheDir: filepath.Join(dir, "cache")}
}

// The key follows every input: the lock, a patch, go.mod, go.sum, the workspace, the version
// stamped and the binary; it does not follow where the checkout is.
func TestKey(t *testing.T) {
	ctx := context.Background()
	b := fakeSource(t)
	base, err := b.Key(ctx, E2ETest)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := b.Key(ctx, E2ETest); again != base {
		t.Fatalf("key not stable: %s then %s", base, again)
	}
	if k, _ := b.Key(ctx, Kubectl); k == base {
		t.Error("e2e.test and kubectl share a key")
	}
	// The same files elsewhere give the same key.
	other := fakeSource(t)
	if k, _ := other.Key(ctx, E2ETest); k != base {
		t.Errorf("moving the checkout changed the key: %s vs %s", k, base)
	}
	for _, change := range []struct {
		name string
		do   func(b *Builder)
	}{
		{"lock", func(b *Builder) { os.WriteFile(b.LockFile, []byte("revision: 2\n"), 0o644) }},
		{"patch", func(b *Builder) {
			os.WriteFile(filepath.Join(b.PatchesDir, "k8s.io", "kubernetes", "1"), []byte("other diff\n"), 0o644)
		}},
		{"new patch", func(b *Builder) {
			os.WriteFile(filepath.Join(b.PatchesDir, "k8s.io", "kubernetes", "2"), []byte("diff\n"), 0o644)
		}},
		{"go.sum", func(b *Builder) { os.WriteFile(filepath.Join(b.ModuleDir, "go.sum"), []byte("x v1 h1:y\n"), 0o644) }},
		{"go.mod", func(b *Builder) {
			os.WriteFile(filepath.Join(b.ModuleDir, "go.mod"), []byte("module example.com/x\n\ngo 1.27\nrequire y v1\n"), 0o644)
		}},
		{"go.work", func(b *Builder) { os.WriteFile(b.GoWork, []byte("go 1.27\n\nuse ..\nreplace a => ./a\n"), 0o644) }},
		{"go.work.sum", func(b *Builder) { os.WriteFile(b.GoWork+".sum", []byte("a v1 h1:b\n"), 0o644) }},
		{"version", func(b *Builder) { b.KubernetesVersion = "v1.37.3" }},
	} {
		t.Run(change.name, func(t *testing.T) {
			b := fakeSource(t)
			change.do(b)
			k, err := b.Key(ctx, E2ETest)
			if err != nil {
				t.Fatal(err)
			}
			if k == base {
				t.Errorf("changing the %s left the key %s", change.name, k)
			}
		})
	}
}

func TestCommand(t *testing.T) {
	b := fakeSource(t)
	args, env, err := b.command(E2ETest, "/out/e2e.test")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(args[:2], []string{"test", "-c"}) || args[len(args)-1] != E2ETest.Package || !slices.Contains(args, "-trimpath") {
		t.Errorf("args %q", args)
	}
	if !slices.Contains(env, "CGO_ENABLED=1") || !slices.Contains(env, "GOWORK="+b.GoWork) || !slices.Contains(env, "GOFLAGS=") {
		t.Errorf("env %q", env)
	}
	args, env, _ = b.command(Agnhost, "/out/agnhost")
	if args[0] != "build" || !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("a static binary: args %q env %q", args, env)
	}
}

func TestModuleCommand(t *testing.T) {
	b := fakeSource(t)
	args, env, err := b.command(Sonobuoy, "/out/sonobuoy")
	if err != nil {
		t.Fatal(err)
	}
	// Built in the module's own directory: its main package is ".".
	if args[0] != "build" || args[len(args)-1] != "." || !slices.Contains(args, "/out/sonobuoy") {
		t.Errorf("args %q", args)
	}
	if !strings.Contains(strings.Join(args, " "), "-X github.com/vmware-tanzu/sonobuoy/pkg/buildinfo.Version="+SonobuoyVersion) {
		t.Errorf("the version is not stamped: %q", args)
	}
	// The workspace would put the distro module's dependency versions on the program.
	if !slices.Contains(env, "GOWORK=off") || !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("env %q", env)
	}
	// Neither the lock nor the patches make a Sonobuoy build differ.
	ctx := context.Background()
	k1, err := b.Key(ctx, Sonobuoy)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(b.LockFile, []byte("changed"), 0o644)
	k2, _ := b.Key(ctx, Sonobuoy)
	other := Sonobuoy
	other.Version = "v0.57.6"
	k3, _ := b.Key(ctx, other)
	if k1 != k2 || k1 == k3 {
		t.Errorf("keys %s %s %s: want the lock ignored and the version counted", k1, k2, k3)
	}
}

func TestBuildUsesCache(t *testing.T) {
	ctx := context.Background()
	b := fakeSource(t)
	key, err := b.Key(ctx, Ginkgo)
	if err != nil {
		t.Fatal(err)
	}
	// An entry under the key is taken as it is: no go command runs (this module has no
	// ginkgo to build).
	cached := filepath.Join(b.CacheDir, "ginkgo-"+key)
	os.MkdirAll(b.CacheDir, 0o755)
	os.WriteFile(cached, []byte("binary"), 0o755)
	got, err := b.Build(ctx, Ginkgo)
	if err != nil || got != cached {
		t.Errorf("Build = %q, %v; want the cached %s", got, err, cached)
	}
}

func TestHashTree(t *testing.T) {
	dir := t.TempDir()
	empty, err := HashTree(filepath.Join(dir, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a"), []byte("1"), 0o644)
	one, _ := HashTree(dir)
	os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	renamed, _ := HashTree(dir)
	if empty == one || one == renamed {
		t.Errorf("hashes do not follow content and names: %s %s %s", empty, one, renamed)
	}
}
