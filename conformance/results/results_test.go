package results

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The repository's own product file is complete.
func TestRepositoryProductFile(t *testing.T) {
	if _, err := LoadProduct(filepath.Join("..", "product.yaml")); err != nil {
		t.Fatal(err)
	}
}

func TestLoadProductNamesWhatIsWrong(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "product.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ edit, want string }{
		"missing field": {strings.Replace(string(good), "vendor:", "#vendor:", 1), "vendor not set"},
		"bad type":      {strings.Replace(string(good), "type: distribution", "type: appliance", 1), `type "appliance"`},
		"unknown key":   {string(good) + "colour: blue\n", "colour"},
		"version given": {string(good) + "version: v1\n", "version is set by the run"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "product.yaml")
			os.WriteFile(p, []byte(tc.edit), 0o644)
			_, err := LoadProduct(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("err = %v; want one naming %s and %q", err, p, tc.want)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	product, err := LoadProduct(filepath.Join("..", "product.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	log, junit := filepath.Join(src, "e2e.log"), filepath.Join(src, "junit_01.xml")
	os.WriteFile(log, []byte("SUCCESS! -- 462 Passed | 0 Failed | 0 Pending | 2744 Skipped\nPASS\n"), 0o644)
	os.WriteFile(junit, []byte("<testsuites/>"), 0o644)
	dir := Dir(filepath.Join(t.TempDir(), "results"), "v1.37.2+distro1")
	run := Run{
		Product: product, Version: "v1.37.2+distro1", KubernetesVersion: "v1.37.2", SonobuoyVersion: "v0.57.5",
		Log: log, JUnit: junit, Nodes: 3, Passed: 462, Duration: 2 * time.Hour, Finished: time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC),
	}
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"PRODUCT.yaml", "README.md", "e2e.log", "junit_01.xml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, "PRODUCT.yaml"))
	var got map[string]string
	if err := yaml.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got["version"] != "v1.37.2+distro1" || got["name"] != "distro" || got["type"] != "distribution" || len(got) != 10 {
		t.Errorf("PRODUCT.yaml: %v", got)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	for _, want := range []string{"go tool mage conformance", "git checkout v1.37.2+distro1", "462 tests passed and 0 failed", "Sonobuoy v0.57.5", "GOTOOLCHAIN=go1.27.3"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks %q:\n%s", want, readme)
		}
	}
	if l, _ := os.ReadFile(filepath.Join(dir, "e2e.log")); !strings.HasPrefix(string(l), "SUCCESS!") {
		t.Errorf("e2e.log %q", l)
	}
	if err := Write(dir, Run{Version: "v1"}); err == nil {
		t.Error("wrote a folder without a log")
	}
}
