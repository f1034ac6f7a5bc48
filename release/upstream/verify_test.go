package upstream_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/upstream"
	"github.com/distro-io/distro/release/upstream/upstreamtest"
)

// fakeUpstream serves a Kubernetes-shaped set of made-up modules at two patch releases, plus
// one linked module, and returns a lock for the older release.
func fakeUpstream(t *testing.T) (*upstreamtest.Proxy, *upstream.Lock) {
	t.Helper()
	var mods []upstreamtest.Mod
	for _, v := range []string{"2", "3"} {
		mods = append(mods,
			upstreamtest.Mod{Path: "k8s.io/kubernetes", Version: "v1.37." + v},
			upstreamtest.Mod{Path: "k8s.io/api", Version: "v0.37." + v},
			upstreamtest.Mod{Path: "k8s.io/client-go", Version: "v0.37." + v},
		)
	}
	mods = append(mods, upstreamtest.Mod{Path: "example.com/linked/v2", Version: "v2.1.0"})
	proxy := upstreamtest.NewProxy(t, mods...)
	lock := &upstream.Lock{Revision: 4}
	for _, m := range []struct{ path, version, role string }{
		{"k8s.io/kubernetes", "v1.37.2", upstream.RoleKubernetes},
		{"k8s.io/api", "v0.37.2", upstream.RoleStaging},
		{"k8s.io/client-go", "v0.37.2", upstream.RoleStaging},
		{"example.com/linked/v2", "v2.1.0", upstream.RoleLinked},
	} {
		lock.Modules = append(lock.Modules, upstream.Module{Path: m.path, Version: m.version, Sum: proxy.Sum(m.path, m.version), Role: m.role})
	}
	return proxy, lock
}

func TestCorrectLockVerifies(t *testing.T) {
	proxy, lock := fakeUpstream(t)
	results := upstream.VerifyEach(context.Background(), lock, upstream.Options{Env: proxy.Env(), Jobs: 2})
	var out bytes.Buffer
	if err := upstream.Report(&out, results); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	for i, r := range results {
		if r.Module != lock.Modules[i] {
			t.Errorf("result %d is for %v, want %v (lock order)", i, r.Module, lock.Modules[i])
		}
		if r.Dir != proxy.CachedDir(r.Module.Path, r.Module.Version) {
			t.Errorf("%s: Dir = %s", r.Module, r.Dir)
		}
		if _, err := os.Stat(filepath.Join(r.Dir, "go.mod")); err != nil {
			t.Errorf("%s: extracted source lacks go.mod: %v", r.Module, err)
		}
	}
	if !strings.Contains(out.String(), "4 modules: 4 verified, 0 failed") {
		t.Errorf("summary missing:\n%s", out.String())
	}
}

func TestChangedSumInLockIsRefused(t *testing.T) {
	proxy, lock := fakeUpstream(t)
	want := lock.Modules[1].Sum
	lock.Modules[1].Sum = proxy.Sum("k8s.io/api", "v0.37.3")
	var out bytes.Buffer
	err := upstream.Report(&out, upstream.VerifyEach(context.Background(), lock, upstream.Options{Env: proxy.Env()}))
	if err == nil {
		t.Fatal("a lock with a wrong sum verified")
	}
	for _, line := range []string{"FAIL  staging   k8s.io/api@v0.37.2\n", "4 modules: 3 verified, 1 failed\n"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("report lacks %q:\n%s", line, out.String())
		}
	}
	msg := err.Error()
	for _, s := range []string{"module k8s.io/api@v0.37.2: hash mismatch", lock.Modules[1].Sum, want} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}
	if strings.Contains(msg, "k8s.io/client-go") || strings.Count(msg, "\n") != 0 {
		t.Errorf("error names more than the one bad module: %v", err)
	}
}

// Verifying downloads and hashes a module's zip and never builds it: a linked module whose
// root package imports something unavailable (flannel's root imports a cloud SDK the proxy
// refuses, while distro links only its sub-packages) verifies all the same.
func TestLinkedModuleIsVerifiedWithoutBuildingIt(t *testing.T) {
	proxy, lock := fakeUpstream(t)
	mod := upstreamtest.Mod{Path: "example.com/net", Version: "v0.28.10", Files: map[string]string{
		"go.mod":               "module example.com/net\n\ngo 1.22\n\nrequire example.com/refused/sdk v1.0.0\n",
		"main.go":              "package main\n\nimport _ \"example.com/refused/sdk\"\n\nfunc main() {}\n",
		"pkg/backend/vxlan.go": "package backend\n",
	}}
	proxy.Add(mod)
	lock.Modules = append(lock.Modules, upstream.Module{Path: mod.Path, Version: mod.Version, Sum: proxy.Sum(mod.Path, mod.Version), Role: upstream.RoleLinked})
	var out bytes.Buffer
	if err := upstream.Report(&out, upstream.VerifyEach(context.Background(), lock, upstream.Options{Env: proxy.Env()})); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok    linked    example.com/net@v0.28.10 ") {
		t.Errorf("report lacks the linked module:\n%s", out.String())
	}
}

func TestTamperedZipInProxyIsRefused(t *testing.T) {
	proxy, lock := fakeUpstream(t)
	proxy.Add(upstreamtest.Mod{Path: "k8s.io/client-go", Version: "v0.37.2", Files: map[string]string{"evil.go": "package lib\n"}})
	err := upstream.Verify(context.Background(), lock, upstream.Options{Env: proxy.Env()})
	if err == nil || !strings.Contains(err.Error(), "module k8s.io/client-go@v0.37.2: hash mismatch: the lock has "+lock.Modules[2].Sum) {
		t.Fatalf("tampered proxy zip: %v", err)
	}
}

func TestTamperedModuleCacheIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, proxy *upstreamtest.Proxy)
		want   string
	}{
		{"zip", func(t *testing.T, proxy *upstreamtest.Proxy) {
			evil := upstreamtest.Zip(t, upstreamtest.Mod{Path: "k8s.io/api", Version: "v0.37.2", Files: map[string]string{"evil.go": "package lib\n"}})
			writeForce(t, proxy.CachedZipPath("k8s.io/api", "v0.37.2"), evil)
		}, "module k8s.io/api@v0.37.2: zip"},
		{"extracted source", func(t *testing.T, proxy *upstreamtest.Proxy) {
			writeForce(t, filepath.Join(proxy.CachedDir("k8s.io/api", "v0.37.2"), "version.go"), []byte("package lib\n"))
		}, "module k8s.io/api@v0.37.2: extracted source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy, lock := fakeUpstream(t)
			opts := upstream.Options{Env: proxy.Env()}
			if err := upstream.Verify(context.Background(), lock, opts); err != nil {
				t.Fatalf("first verify: %v", err)
			}
			tc.tamper(t, proxy)
			err := upstream.Verify(context.Background(), lock, opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func writeForce(t *testing.T, path string, data []byte) {
	t.Helper()
	os.Chmod(filepath.Dir(path), 0o755)
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMissingModuleNamesIt(t *testing.T) {
	proxy, lock := fakeUpstream(t)
	lock.Modules[3].Version = "v2.9.9"
	err := upstream.Verify(context.Background(), lock, upstream.Options{Env: proxy.Env()})
	if err == nil || !strings.Contains(err.Error(), "module example.com/linked/v2@v2.9.9: go mod download") {
		t.Fatalf("missing module: %v", err)
	}
}

func TestEmptySumIsRefusedAndRefreshFillsIt(t *testing.T) {
	proxy, lock := fakeUpstream(t)
	want := lock.Modules[3].Sum
	lock.Modules[3].Sum = ""
	opts := upstream.Options{Env: proxy.Env()}
	err := upstream.Verify(context.Background(), lock, opts)
	if err == nil || !strings.Contains(err.Error(), "module example.com/linked/v2@v2.1.0: the lock records no sum") {
		t.Fatalf("empty sum: %v", err)
	}
	refreshed, err := upstream.Refresh(context.Background(), lock, opts)
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.Modules[3].Sum != want {
		t.Errorf("Refresh recorded %q, want %q", refreshed.Modules[3].Sum, want)
	}
	if lock.Modules[3].Sum != "" {
		t.Error("Refresh changed the lock it was given")
	}
	if err := upstream.Verify(context.Background(), refreshed, opts); err != nil {
		t.Errorf("refreshed lock: %v", err)
	}
}

func TestResolve(t *testing.T) {
	proxy, _ := fakeUpstream(t)
	m, dir, err := upstream.Resolve(context.Background(), "k8s.io/kubernetes", "v1.37.3", upstream.Options{Env: proxy.Env()})
	if err != nil {
		t.Fatal(err)
	}
	if m.Sum != proxy.Sum("k8s.io/kubernetes", "v1.37.3") {
		t.Errorf("Sum = %s", m.Sum)
	}
	data, err := os.ReadFile(filepath.Join(dir, "version.go"))
	if err != nil || !strings.Contains(string(data), `"v1.37.3"`) {
		t.Errorf("source in %s is not v1.37.3's: %q, %v", dir, data, err)
	}
}

func TestBump(t *testing.T) {
	proxy, lock := fakeUpstream(t)
	opts := upstream.Options{Env: proxy.Env()}
	next, err := upstream.Bump(context.Background(), lock, "v1.37.3", opts)
	if err != nil {
		t.Fatal(err)
	}
	if next.Revision != 1 {
		t.Errorf("revision %d, want 1", next.Revision)
	}
	if got := next.ReleaseVersion(); !strings.HasPrefix(got, "v1.37.3+") || !strings.HasSuffix(got, "1") {
		t.Errorf("ReleaseVersion() = %s", got)
	}
	for _, want := range []upstream.Module{
		{Path: "k8s.io/kubernetes", Version: "v1.37.3", Role: upstream.RoleKubernetes},
		{Path: "k8s.io/api", Version: "v0.37.3", Role: upstream.RoleStaging},
		{Path: "k8s.io/client-go", Version: "v0.37.3", Role: upstream.RoleStaging},
		{Path: "example.com/linked/v2", Version: "v2.1.0", Role: upstream.RoleLinked},
	} {
		want.Sum = proxy.Sum(want.Path, want.Version)
		if got, _ := next.Find(want.Path); got != want {
			t.Errorf("after bump %+v, want %+v", got, want)
		}
	}
	if lock.Revision != 4 || lock.Kubernetes().Version != "v1.37.2" {
		t.Error("Bump changed the lock it was given")
	}
	if err := upstream.Verify(context.Background(), next, opts); err != nil {
		t.Errorf("bumped lock does not verify: %v", err)
	}

	for version, want := range map[string]string{
		"v1.37.2": "not newer than the locked v1.37.2",
		"v1.37.1": "not newer",
		"1.37.3":  "not a Kubernetes version",
		"v0.37.3": "not a Kubernetes version",
		"v1.37.4": "module k8s.io/kubernetes@v1.37.4: go mod download",
	} {
		if _, err := upstream.Bump(context.Background(), lock, version, opts); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Bump(%s): want error containing %q, got %v", version, want, err)
		}
	}
}

func TestCheckGoMod(t *testing.T) {
	_, lock := fakeUpstream(t)
	good := `module example.com/distro

go 1.22

require (
	k8s.io/kubernetes v1.37.2
	example.com/linked/v2 v2.1.0
	k8s.io/client-go v0.37.0
)

replace (
	k8s.io/api => k8s.io/api v0.37.2
	k8s.io/client-go => k8s.io/client-go v0.37.2
)
`
	for _, tc := range []struct {
		name, from, to string
		want           string
	}{
		{"matches", "", "", ""},
		{"kubernetes required at another version", "k8s.io/kubernetes v1.37.2", "k8s.io/kubernetes v1.37.1", "go.mod:6: module k8s.io/kubernetes: required at v1.37.1, the lock has v1.37.2"},
		{"linked not required", "\texample.com/linked/v2 v2.1.0\n", "", "go.mod: module example.com/linked/v2: not required (the lock has v2.1.0)"},
		{"linked replaced", "replace (", "replace example.com/linked/v2 => ../linked\nreplace (", "module example.com/linked/v2: replaced by ../linked, the lock has v2.1.0"},
		{"staging replaced at another version", "k8s.io/client-go => k8s.io/client-go v0.37.2", "k8s.io/client-go => k8s.io/client-go v0.37.1", "go.mod:13: module k8s.io/client-go: replaced at v0.37.1, the lock has v0.37.2"},
		{"staging replaced by a fork", "k8s.io/api => k8s.io/api v0.37.2", "k8s.io/api => example.com/api v0.37.2", "module k8s.io/api: replaced by example.com/api@v0.37.2, not by the module itself"},
		{"staging not replaced", "\tk8s.io/api => k8s.io/api v0.37.2\n", "", "go.mod: module k8s.io/api: not replaced (the lock has v0.37.2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "go.mod")
			os.WriteFile(path, []byte(strings.Replace(good, tc.from, tc.to, 1)), 0o644)
			err := upstream.CheckGoMod(lock, path)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("a matching go.mod was refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), strings.Replace(tc.want, "go.mod", path, 1))):
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestCommittedGoModMatchesCommittedLock(t *testing.T) {
	lock, err := upstream.Load(filepath.Join("..", "..", "upstream.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := upstream.CheckGoMod(lock, filepath.Join("..", "..", "go.mod")); err != nil {
		t.Error(err)
	}
}
