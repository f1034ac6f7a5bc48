package testbin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/upstream"
)

const lockHead = `revision: 1
modules:
  - path: k8s.io/kubernetes
    version: v1.37.2
    sum: h1:A2VDEiObzkYqFTKhSsn0ZEb0RlLEXpHWj93gi2HqEwE=
    role: kubernetes
`

func writeLock(t *testing.T, extra string) string {
	path := filepath.Join(t.TempDir(), "upstream.lock")
	if err := os.WriteFile(path, []byte(lockHead+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEtcdNeedsTheLockedTestModule(t *testing.T) {
	for name, tc := range map[string]struct{ extra, want string }{
		"absent":      {"", "no module go.etcd.io/etcd/server/v3 with role test"},
		"wrong role":  {"  - path: go.etcd.io/etcd/server/v3\n    version: v3.7.3\n    sum: h1:KcTZ/aEZrOiQe0/kdr7iYYcvyfbEoOwDOacHkz8xwZc=\n    role: linked\n", "with role test"},
		"without sum": {"  - path: go.etcd.io/etcd/server/v3\n    version: v3.7.3\n    sum: \"\"\n    role: test\n", "has no sum; run `mage upstream:refresh`"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Etcd(context.Background(), Options{Lock: writeLock(t, tc.extra), CacheDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestEtcdComesFromTheCacheWhenItsInputsMatch(t *testing.T) {
	m := upstream.Module{Path: EtcdModule, Version: "v3.7.3", Sum: "h1:KcTZ/aEZrOiQe0/kdr7iYYcvyfbEoOwDOacHkz8xwZc=", Role: upstream.RoleTest}
	lock := writeLock(t, "  - path: "+m.Path+"\n    version: "+m.Version+"\n    sum: "+m.Sum+"\n    role: test\n")
	cache := t.TempDir()
	key, err := cacheKey(context.Background(), "go", etcd, m)
	if err != nil {
		t.Fatal(err)
	}
	cached := filepath.Join(cache, key, "etcd")
	os.MkdirAll(filepath.Dir(cached), 0o755)
	os.WriteFile(cached, []byte("#!/bin/sh\n"), 0o755)
	got, err := Etcd(context.Background(), Options{Lock: lock, CacheDir: cache})
	if err != nil || got != cached {
		t.Fatalf("Etcd = %q, %v; want the cached %s", got, err, cached)
	}

	other := m
	other.Sum = "h1:A2VDEiObzkYqFTKhSsn0ZEb0RlLEXpHWj93gi2HqEwE="
	if k, _ := cacheKey(context.Background(), "go", etcd, other); k == key {
		t.Error("a different module hash gives the same cache key")
	}
}
