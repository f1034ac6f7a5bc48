package images_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	distroimages "github.com/distro-io/distro/distro/images"
	"github.com/distro-io/distro/release/images"
	stepimages "github.com/distro-io/distro/release/steps/images"
	"github.com/distro-io/distro/release/upstream"
)

func lock(t *testing.T) *upstream.Lock {
	t.Helper()
	// go test runs in the package directory (file names from runtime.Caller are not paths under -trimpath).
	l, err := upstream.Load(filepath.Join("..", "..", "upstream.lock"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func pauseOptions(t *testing.T, cacheDir string) images.PauseOptions {
	t.Helper()
	k := lock(t).Kubernetes()
	dir, err := images.ModuleDir(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return images.PauseOptions{KubernetesDir: dir, KubernetesVersion: k.Version, CacheDir: cacheDir}
}

func TestPauseImage(t *testing.T) {
	ctx := context.Background()
	opts := pauseOptions(t, t.TempDir())
	pause, err := images.Pause(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "images.tar")
	if err := images.WriteArchiveFile(archive, []images.Named{pause}); err != nil {
		t.Fatal(err)
	}

	// Loaded back through the docker-archive reader, by the name the kubelet's runtime expects.
	tag, err := name.NewTag(distroimages.Pause)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/pause" {
		t.Errorf("entrypoint %q, want /pause", got)
	}
	if cf.Config.User != "65535:65535" {
		t.Errorf("user %q, want 65535:65535", cf.Config.User)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	_, bin := entryInLayer(t, layers[0], "pause")

	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("pause has a %s program header: not static", p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("pause has a symbol table: not stripped")
	}
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("pause is for %s", f.Machine)
	}

	// It runs, and reports the version upstream's Makefile would stamp.
	exe := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "-v").CombinedOutput()
	if err != nil {
		t.Fatalf("pause -v: %v: %s", err, out)
	}
	if want := "v" + distroimages.PauseVersion + "-" + opts.KubernetesVersion; !strings.Contains(string(out), want) {
		t.Errorf("pause -v printed %q, want %s in it", out, want)
	}
}

// Two builds from empty caches, so gcc and the go command run twice, give the same archive
// bytes.
func TestAirgapIsReproducible(t *testing.T) {
	needGo(t)
	ctx := context.Background()
	want := []string{distroimages.CoreDNS, distroimages.Pause}
	var archives [2][]byte
	for i := range archives {
		dist := t.TempDir()
		cache := t.TempDir()
		imgs, err := images.Airgap(ctx, images.AirgapOptions{Lock: lock(t), DistDir: dist, CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs) == 0 {
			t.Fatal("no images")
		}
		if archives[i], err = os.ReadFile(filepath.Join(dist, stepimages.Archive)); err != nil {
			t.Fatal(err)
		}
		list, err := os.ReadFile(filepath.Join(dist, stepimages.List))
		if err != nil {
			t.Fatal(err)
		}
		if string(list) != strings.Join(want, "\n")+"\n" {
			t.Errorf("image list %q, want %q", list, want)
		}
		entries, err := os.ReadDir(cache)
		if err != nil || len(entries) != 2 || !strings.HasPrefix(entries[0].Name(), "coredns-") || !strings.HasPrefix(entries[1].Name(), "pause-") {
			t.Errorf("cache holds %v (%v), want one coredns and one pause binary", entries, err)
		}
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Fatal("two builds of the airgap archive differ")
	}
	// The compressed archive holds an OCI layout naming the images for containerd.
	path := filepath.Join(t.TempDir(), "a.tar.zst")
	if err := os.WriteFile(path, archives[0], 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := images.ReadArchiveFile(path)
	if err != nil {
		t.Fatal(err)
	}
	index := readEntry(t, data, "index.json")
	var idx struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(index, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != len(want) {
		t.Fatalf("index.json %s names %d images, want %d", index, len(idx.Manifests), len(want))
	}
	for i, m := range idx.Manifests {
		if got := m.Annotations["io.containerd.image.name"]; got != want[i] {
			t.Errorf("index.json names %s, want %s", got, want[i])
		}
		readEntry(t, data, "blobs/sha256/"+strings.TrimPrefix(m.Digest, "sha256:"))
	}
	readEntry(t, data, "oci-layout")
}

func readEntry(t *testing.T, archive []byte, name string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("archive has no %s: %v", name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// A Kubernetes source that builds another pause version than distro names is refused, rather
// than shipping an image under the wrong tag.
func TestPauseVersionMismatchIsRefused(t *testing.T) {
	dir := t.TempDir()
	pauseDir := filepath.Join(dir, "build", "pause")
	if err := os.MkdirAll(filepath.Join(pauseDir, "linux"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pauseDir, "linux", "pause.c"), []byte("int main(void){return 0;}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pauseDir, "Makefile"), []byte("TAG ?= 9.9.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := images.PauseBinary(context.Background(), images.PauseOptions{KubernetesDir: dir, KubernetesVersion: "v1.0.0", CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "9.9.9") {
		t.Fatalf("got %v, want a refusal naming upstream's 9.9.9", err)
	}
}
