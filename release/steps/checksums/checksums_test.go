package checksums

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/pipeline"
)

func TestChecksumsAreWhatSha256sumChecks(t *testing.T) {
	c := &pipeline.Context{DistDir: t.TempDir()}
	for name, content := range map[string]string{"distro": "binary", "distro-images.txt": "registry.k8s.io/pause:3.10\n"} {
		p := filepath.Join(c.DistDir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		c.Add(pipeline.Artifact{Name: name, Path: p})
	}
	if _, err := (Step{}).Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	// Run twice: the checksum file lists the others, never itself, and is listed once.
	if _, err := (Step{}).Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if len(c.Artifacts) != 3 || c.Artifacts[2].Name != File {
		t.Fatalf("artifacts %+v", c.Artifacts)
	}
	data, err := os.ReadFile(filepath.Join(c.DistDir, File))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), File) {
		t.Errorf("the checksum file lists itself:\n%s", data)
	}
	// "binary" has a well-known SHA-256.
	if !strings.Contains(string(data), "9a3a45d01531a20e89ac6ae10b0b0beb0492acd7216a368aa062d1a5fecaf9cd  distro\n") {
		t.Errorf("checksum file:\n%s", data)
	}
	if path, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(path, "--check", "--strict", File)
		cmd.Dir = c.DistDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum --check: %v\n%s", err, out)
		}
	}
	sums, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 || sums["distro"] != "9a3a45d01531a20e89ac6ae10b0b0beb0492acd7216a368aa062d1a5fecaf9cd" {
		t.Errorf("parsed %v", sums)
	}
}

func TestChecksumsNeedArtifacts(t *testing.T) {
	if _, err := (Step{}).Run(context.Background(), &pipeline.Context{DistDir: t.TempDir()}); err == nil {
		t.Fatal("no error without artifacts")
	}
	c := &pipeline.Context{DistDir: t.TempDir(), Artifacts: []pipeline.Artifact{{Name: "distro", Path: "/nonexistent"}}}
	if _, err := (Step{}).Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "checksum of distro") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseRefusesMalformedLines(t *testing.T) {
	sum := strings.Repeat("a", 64)
	for _, bad := range []string{
		"abc  distro\n",
		sum + " distro\n",
		strings.Repeat("A", 64) + "  distro\n",
		sum + "  distro\n" + sum + "  distro\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted it", bad)
		}
	}
	if got, err := Parse([]byte(sum + " *distro\n")); err != nil || got["distro"] != sum {
		t.Errorf("binary-mode line: %v, %v", got, err)
	}
}
