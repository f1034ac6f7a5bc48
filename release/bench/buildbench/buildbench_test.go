package buildbench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	distropayload "github.com/distro-io/distro/distro/payload"
	"github.com/distro-io/distro/release/build"
	"github.com/distro-io/distro/release/patchset"
	"github.com/distro-io/distro/release/payload"
)

// tiny is a module shaped like distro (main package at build.MainPackage) using one
// patched dependency, example.com/lib, whose patch turns "pristine" into "patched".
type tiny struct {
	module, lib, patches string
	opts                 build.Options
}

const libGo = `package lib

// Greeting says which source was built.
func Greeting() string {
	return "pristine"
}
`

const libPatch = `From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
Subject: [PATCH] lib: say it was patched

The test needs a build that shows the patch applied.
---
diff --git a/lib.go b/lib.go
--- a/lib.go
+++ b/lib.go
@@ -2,5 +2,5 @@ package lib
 
 // Greeting says which source was built.
 func Greeting() string {
-	return "pristine"
+	return "patched"
 }
`

func newTiny(t *testing.T) *tiny {
	t.Helper()
	root := t.TempDir()
	tm := &tiny{module: filepath.Join(root, "main"), lib: filepath.Join(root, "lib"), patches: filepath.Join(root, "patches")}
	write(t, filepath.Join(tm.lib, "go.mod"), "module example.com/lib\n\ngo 1.27.3\n")
	write(t, filepath.Join(tm.lib, "lib.go"), libGo)
	write(t, filepath.Join(tm.patches, "example.com", "lib", "0001-lib-say-it-was-patched.patch"), libPatch)
	write(t, filepath.Join(tm.module, "go.mod"), "module example.com/tiny\n\ngo 1.27.3\n\nrequire example.com/lib v1.0.0\n\nreplace example.com/lib => ../lib\n")
	write(t, filepath.Join(tm.module, filepath.FromSlash(build.MainPackage), "main.go"),
		"package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/lib\"\n)\n\nfunc main() { fmt.Println(lib.Greeting()) }\n")
	tm.opts = build.Options{
		ModuleDir: tm.module,
		Output:    filepath.Join(root, "out", "distro"),
		Stamp: build.Stamp{Version: "v1.37.2+distro1", UpstreamVersion: "v1.37.2", GitCommit: "0123abc",
			TreeState: "clean", BuildDate: time.Unix(1700000000, 0)},
	}
	return tm
}

func (tm *tiny) modules() []patchset.Source {
	return []patchset.Source{{Path: "example.com/lib", Version: "v1.0.0", Dir: tm.lib}}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runBinary(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(path).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", path, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestColdBuildUsesAndRemovesAnEmptyCache(t *testing.T) {
	tm := newTiny(t)
	scratch := t.TempDir()
	res, err := Cold(context.Background(), tm.opts, scratch)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cold build of the tiny module: %s", res)
	if got := runBinary(t, tm.opts.Output); got != "pristine" {
		t.Errorf("built binary printed %q, want the unpatched %q", got, "pristine")
	}
	if res.PeakRSS == 0 || res.CPU == 0 {
		t.Errorf("resource usage not read: %+v", res)
	}
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("the temporary build cache was left behind: %v", left)
	}
}

func TestWarmRebuildTouchesOnePatchedFile(t *testing.T) {
	tm := newTiny(t)
	scratch := t.TempDir()
	w, err := WarmRebuild(context.Background(), WarmOptions{
		Build: tm.opts, Modules: tm.modules(), PatchesDir: tm.patches, Module: "example.com/lib",
		Scratch: scratch, Baseline: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("baseline %s; after the change %s", w.Baseline, w.Changed)
	if w.File != "lib.go" || filepath.Base(w.Patch) != "0001-lib-say-it-was-patched.patch" {
		t.Errorf("touched %s of %s, want lib.go of the only patch", w.File, w.Patch)
	}
	if got := runBinary(t, w.BaselineOutput); got != "patched" {
		t.Errorf("baseline printed %q, want the patched source", got)
	}
	if got := runBinary(t, tm.opts.Output); got != "patched" {
		t.Errorf("warm rebuild printed %q, want the patched source", got)
	}
	tree := filepath.Join(scratch, "build", "src", "example.com", "lib@v1.0.0", "lib.go")
	if got, _ := os.ReadFile(tree); string(got) != strings.Replace(libGo, `"pristine"`, `"patched"`, 1)+"//\n" {
		t.Errorf("patched tree's lib.go:\n%s", got)
	}
	if entries, _ := os.ReadDir(filepath.Join(tm.patches, "example.com", "lib")); len(entries) != 1 {
		t.Errorf("the real patch set changed: %v", entries)
	}
	if pristine, _ := os.ReadFile(filepath.Join(tm.lib, "lib.go")); string(pristine) != libGo {
		t.Errorf("the pristine source changed:\n%s", pristine)
	}
}

func TestWarmRebuildRefusesModuleWithoutPatches(t *testing.T) {
	tm := newTiny(t)
	_, err := WarmRebuild(context.Background(), WarmOptions{
		Build: tm.opts, Modules: tm.modules(), PatchesDir: tm.patches, Module: "example.com/other", Scratch: t.TempDir(),
	})
	if err == nil || !strings.Contains(err.Error(), "example.com/other has no patches") {
		t.Errorf("got %v", err)
	}
}

func TestAppendCommentPatch(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"package x\n", "@@ -1,1 +1,2 @@\n package x\n+//\n"},
		{"a\nb\nc\nd\ne\n", "@@ -3,3 +3,4 @@\n c\n d\n e\n+//\n"},
	} {
		p, err := appendCommentPatch("x.go", []byte(tc.content))
		if err != nil || !strings.HasSuffix(string(p), "+++ b/x.go\n"+tc.want) {
			t.Errorf("for %q: %v\n%s", tc.content, err, p)
		}
	}
	if _, err := appendCommentPatch("x.go", []byte("no newline")); err == nil {
		t.Error("a file without a final newline accepted")
	}
}

func TestReproducibleAndPackages(t *testing.T) {
	tm := newTiny(t)
	r, err := Reproducible(context.Background(), tm.opts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Same || r.Sums[0] != r.Sums[1] || r.FirstDiff != -1 || r.Paths[0] == r.Paths[1] {
		t.Errorf("two links of the tiny module: %+v", r)
	}
	n, err := Packages(context.Background(), tm.module, "")
	if err != nil || n != 2 {
		t.Errorf("Packages = %d, %v; want the main package and example.com/lib", n, err)
	}
}

func TestFirstDiff(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("x", 3<<20)
	for _, tc := range []struct {
		a, b string
		want int64
	}{
		{big, big, -1},
		{big, big[:2<<20] + "y" + big[2<<20+1:], 2 << 20},
		{big, big + "z", 3 << 20},
		{"", "", -1},
	} {
		write(t, filepath.Join(dir, "a"), tc.a)
		write(t, filepath.Join(dir, "b"), tc.b)
		if got, err := FirstDiff(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil || got != tc.want {
			t.Errorf("FirstDiff = %d, %v; want %d", got, err, tc.want)
		}
	}
}

func TestMeasureSizesReadsThePayload(t *testing.T) {
	tm := newTiny(t)
	if _, err := Timed(context.Background(), tm.opts); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	extra := filepath.Join(dir, "runc")
	write(t, extra, strings.Repeat("runc ", 1000))
	download := filepath.Join(dir, "download")
	if err := payload.Assemble(tm.opts.Output, map[string]string{"distro": tm.opts.Output, "runc": extra}, download); err != nil {
		t.Fatal(err)
	}
	s, err := MeasureSizes(tm.opts.Output, download)
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := os.Stat(tm.opts.Output)
	if s.Binary != uint64(bin.Size()) || s.Launcher != uint64(bin.Size()) {
		t.Errorf("binary %d, launcher %d; want both %d", s.Binary, s.Launcher, bin.Size())
	}
	if s.Download != s.Launcher+s.Payload+distropayload.FooterSize {
		t.Errorf("download %d is not launcher %d + payload %d + footer", s.Download, s.Launcher, s.Payload)
	}
	if s.Unpacked != uint64(bin.Size())+5000 {
		t.Errorf("unpacked %d, want %d", s.Unpacked, bin.Size()+5000)
	}
}

func TestRunReportsEveryPart(t *testing.T) {
	tm := newTiny(t)
	if _, err := Timed(context.Background(), tm.opts); err != nil {
		t.Fatal(err)
	}
	download := filepath.Join(t.TempDir(), "download")
	if err := payload.Assemble(tm.opts.Output, map[string]string{"distro": tm.opts.Output}, download); err != nil {
		t.Fatal(err)
	}
	// The real build uses the patched workspace; so does this one.
	realBuild := t.TempDir()
	res, err := patchset.Apply(context.Background(), patchset.ApplyOptions{Modules: tm.modules(), PatchesDir: tm.patches, BuildDir: realBuild})
	if err != nil {
		t.Fatal(err)
	}
	if err := patchset.WriteGoWork(realBuild, tm.module, res.Trees); err != nil {
		t.Fatal(err)
	}
	tm.opts.GoWork = filepath.Join(realBuild, "go.work")
	scratch := t.TempDir()
	var out strings.Builder
	err = Run(context.Background(), RunOptions{
		Build: withOutput(tm.opts, filepath.Join(scratch, "distro")), Modules: tm.modules(), PatchesDir: tm.patches,
		Module: "example.com/lib", Scratch: scratch, Binary: tm.opts.Output, Download: download,
	}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
	report := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{"bench:build", "1 run(s)", "cold build skipped: BENCH_COLD=1", "warm rebuild, one patch changed",
		"payload (compressed)", "payload unpacked", "packages linked (non-standard) 2", "reproducible yes",
		"same sources in another build dir same", "lib.go"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
