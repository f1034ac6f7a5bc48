package containerd

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	srvconfig "github.com/containerd/containerd/v2/cmd/containerd/server/config"

	"github.com/distro-io/distro/distro/images"
)

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Options{DataDir: "relative", Snapshotter: "zfs", Socket: "/" + strings.Repeat("s", 200)}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"not absolute", "no bin dir", `"zfs"`, "longer than"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := (Options{DataDir: "/var/lib/distro", BinDir: "/bin"}).Validate(); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
}

func TestCompleteLaysOutTheDataDir(t *testing.T) {
	c, err := Options{DataDir: "/d", BinDir: "/d/data/current/bin", Executable: "/d/distro"}.Complete()
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		c.Socket:       "/d/agent/containerd/containerd.sock",
		c.Root:         "/d/agent/containerd/root",
		c.State:        "/d/agent/containerd/state",
		c.LogFile:      "/d/agent/containerd/containerd.log",
		c.CNIConfDir:   "/d/agent/etc/cni/net.d",
		c.ImagesDir:    "/d/agent/images",
		c.ConfigFile:   "/d/agent/etc/containerd/config.toml",
		c.SandboxImage: images.Pause,
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// The config is read back by containerd's own loader, which checks the format version, and
// holds what distro decided.
func TestRenderLoadsInContainerd(t *testing.T) {
	c, err := Options{DataDir: "/d", BinDir: "/d/bin", Executable: "/d/distro"}.Complete()
	if err != nil {
		t.Fatal(err)
	}
	for _, restrict := range []bool{false, true} {
		data, err := Render(c, Settings{Snapshotter: SnapshotterNative, RestrictOOMScoreAdj: restrict})
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Render(c, Settings{Snapshotter: SnapshotterNative, RestrictOOMScoreAdj: restrict})
		if string(again) != string(data) {
			t.Error("two renders differ")
		}
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var cfg srvconfig.Config
		if err := srvconfig.LoadConfig(context.Background(), path, &cfg); err != nil {
			t.Fatalf("containerd refuses the config: %v\n%s", err, data)
		}
		if cfg.Version != 3 || cfg.Root != c.Root || cfg.State != c.State || cfg.GRPC.Address != c.Socket {
			t.Errorf("loaded version %d root %s state %s address %s", cfg.Version, cfg.Root, cfg.State, cfg.GRPC.Address)
		}
		rt, _ := cfg.Plugins[pluginCRIRuntime].(map[string]any)
		if got, _ := rt["restrict_oom_score_adj"].(bool); got != restrict {
			t.Errorf("restrict_oom_score_adj = %v, want %v", rt["restrict_oom_score_adj"], restrict)
		}
		if _, set := rt["restrict_oom_score_adj"]; set != restrict {
			t.Errorf("restrict_oom_score_adj written: %v, want only when restricting", set)
		}
		cni, _ := rt["cni"].(map[string]any)
		if dirs, _ := cni["bin_dirs"].([]any); !slices.Equal(dirs, []any{c.BinDir}) || cni["conf_dir"] != c.CNIConfDir {
			t.Errorf("cni = %v", cni)
		}
		img, _ := cfg.Plugins[pluginCRIImages].(map[string]any)
		pinned, _ := img["pinned_images"].(map[string]any)
		if img["snapshotter"] != SnapshotterNative || pinned["sandbox"] != images.Pause {
			t.Errorf("images plugin = %v", img)
		}
		runc := rt["containerd"].(map[string]any)["runtimes"].(map[string]any)["runc"].(map[string]any)
		if runc["options"].(map[string]any)["SystemdCgroup"] != false {
			t.Errorf("runc = %v, want the cgroupfs driver", runc)
		}
	}
}

func TestArchivesListsOnlyArchives(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.tar.zst", "a.tar", "c.tar.gz", ".hidden.tar", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "d.tar"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := archives(dir)
	if err != nil || !slices.Equal(got, []string{"a.tar", "b.tar.zst"}) {
		t.Errorf("archives = %v, %v; want a.tar, b.tar.zst", got, err)
	}
	if got, err := archives(filepath.Join(dir, "missing")); err != nil || len(got) != 0 {
		t.Errorf("missing dir: %v, %v", got, err)
	}
}
