package sonobuoy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distro-io/distro/conformance/suite"
)

func TestRunArgs(t *testing.T) {
	o := Options{SonobuoyImage: "r/sonobuoy:v1", ConformanceImage: "r/conformance:v1.37.2", RepoList: "/x/repo-list.yaml", Timeout: 2 * time.Hour}
	args := RunArgs(o)
	for _, want := range []string{
		"--mode=certified-conformance", "--plugin=e2e", "--sonobuoy-image=r/sonobuoy:v1",
		"--kube-conformance-image=r/conformance:v1.37.2", "--image-pull-policy=IfNotPresent",
		"--e2e-repo-config=/x/repo-list.yaml", "--timeout=7200",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("no %s in %q", want, args)
		}
	}
	if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--e2e-focus") }) {
		t.Errorf("a focus without one asked for: %q", args)
	}
	// Sonobuoy refuses a mode together with a focus.
	o.Focus = `\[sig-node\] Pods`
	args = RunArgs(o)
	if !slices.Contains(args, `--e2e-focus=\[sig-node\] Pods`) || slices.Contains(args, "--mode="+Mode) {
		t.Errorf("a focused run: %q", args)
	}
}

func TestLastLine(t *testing.T) {
	out := []byte("time=\"…\" level=warning msg=\"x\"\n{\"status\":\"running\"}\n\n")
	if got := string(lastLine(out)); got != `{"status":"running"}` {
		t.Errorf("lastLine = %q", got)
	}
}

const junit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="Kubernetes e2e suite">
<testcase name="[It] [sig-x] a [Conformance]" status="passed"></testcase>
<testcase name="[It] [sig-x] b [Conformance]" status="failed"><failure message="boom">trace</failure></testcase>
<testcase name="[It] [sig-x] not conformance" status="skipped"></testcase>
</testsuite></testsuites>`

func writeTarball(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "202611290000_sonobuoy_x.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExtract(t *testing.T) {
	tarball := writeTarball(t, map[string]string{
		"plugins/e2e/results/global/e2e.log":      "the log\n",
		"plugins/e2e/results/global/junit_01.xml": junit,
		"plugins/e2e/sonobuoy_results.yaml":       "x",
	})
	dir := t.TempDir()
	tests := []suite.Test{{Name: "[sig-x] a [Conformance]"}, {Name: "[sig-x] b [Conformance]"}}
	res, err := extract(tarball, dir, tests)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Passed, []string{"[sig-x] a [Conformance]"}) || !slices.Equal(res.Failed, []string{"[sig-x] b [Conformance]"}) {
		t.Errorf("passed %q failed %q", res.Passed, res.Failed)
	}
	if !strings.Contains(res.Failures["[sig-x] b [Conformance]"], "boom") {
		t.Errorf("failure message %q", res.Failures)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "e2e.log")); string(data) != "the log\n" || res.Log != filepath.Join(dir, "e2e.log") {
		t.Errorf("e2e.log %q at %s", data, res.Log)
	}
	if _, err := os.Stat(filepath.Join(dir, "junit_01.xml")); err != nil {
		t.Error(err)
	}
}

func TestExtractWithoutResults(t *testing.T) {
	tarball := writeTarball(t, map[string]string{"plugins/e2e/results/global/e2e.log": "started\n"})
	_, err := extract(tarball, t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "junit_01.xml") {
		t.Errorf("a tarball without a junit report: %v", err)
	}
}

func TestRunNeedsItsInputs(t *testing.T) {
	if _, err := Run(t.Context(), Options{Binary: "sonobuoy"}); err == nil {
		t.Error("ran without a kubeconfig, images or results dir")
	}
}
