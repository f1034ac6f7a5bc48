package suite

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFocus(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{
			name: "entries with comments",
			in:   "# header\n\n# why a\n# more\n[sig-x] a [Conformance]\n\n# why b\n[sig-y] b [Conformance] [Serial]\n",
			want: []string{"[sig-x] a [Conformance]", "[sig-y] b [Conformance] [Serial]"},
		},
		{name: "no comment", in: "# header\n\n[sig-x] a [Conformance]\n", err: "has no comment"},
		{name: "not conformance", in: "# why\n[sig-x] a\n", err: "not a [Conformance] test"},
		{name: "twice", in: "# why\n[sig-x] a [Conformance]\n# again\n[sig-x] a [Conformance]\n", err: "already on line 2"},
		{name: "empty", in: "# only a comment\n", err: "no tests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tests, err := ParseFocus([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, x := range tests {
				names = append(names, x.Name)
				if x.Why == "" {
					t.Errorf("%s: no reason kept", x.Name)
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("names = %q, want %q", names, tc.want)
			}
		})
	}
	tests, _ := ParseFocus([]byte("# why a\n# more\n[sig-x] a [Conformance]\n"))
	if tests[0].Why != "why a more" || tests[0].Line != 3 {
		t.Errorf("entry = %+v", tests[0])
	}
}

// FocusRegexp must select exactly the named tests out of ginkgo's full texts ("<suite> <name>").
func TestFocusRegexp(t *testing.T) {
	tests := []Test{{Name: "[sig-node] Pods should run [Conformance]"}, {Name: "[sig-cli] Kubectl x (y) should work [Conformance] [Serial]"}}
	re := regexp.MustCompile(FocusRegexp(tests))
	for full, want := range map[string]bool{
		"Kubernetes e2e suite [sig-node] Pods should run [Conformance]":                   true,
		"[sig-node] Pods should run [Conformance]":                                        true,
		"Kubernetes e2e suite [sig-cli] Kubectl x (y) should work [Conformance] [Serial]": true,
		"Kubernetes e2e suite [sig-node] Pods should run [Conformance] [Slow]":            false,
		"Kubernetes e2e suite [sig-node] Pods should run":                                 false,
		"Kubernetes e2e suite x[sig-node] Pods should run [Conformance]":                  false,
		"Kubernetes e2e suite [sig-cli] Kubectl x y should work [Conformance] [Serial]":   false,
	} {
		if got := re.MatchString(full); got != want {
			t.Errorf("match %q = %v, want %v", full, got, want)
		}
	}
}

// The committed quick set parses and covers what the issue asks for.
func TestQuickFocusFile(t *testing.T) {
	tests, err := LoadFocus(filepath.Join("..", "quick.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) < 20 {
		t.Errorf("%d tests, the quick set needs at least 20", len(tests))
	}
	count := map[string]int{}
	for _, x := range tests {
		for _, sig := range []string{"[sig-network] Services", "[sig-network] DNS", "[sig-apps]", "[sig-node]", "[sig-api-machinery]", "[sig-cli]"} {
			if strings.HasPrefix(x.Name, sig) {
				count[sig]++
			}
		}
	}
	for _, sig := range []string{"[sig-network] Services", "[sig-network] DNS", "[sig-apps]", "[sig-node]", "[sig-api-machinery]", "[sig-cli]"} {
		if count[sig] == 0 {
			t.Errorf("no test of %s in the quick set", sig)
		}
	}
}

func TestArgs(t *testing.T) {
	o := Options{E2ETest: "e2e.test", Kubectl: "/k/kubectl", Kubeconfig: "/k/config", ResultsDir: "/r", Tests: []Test{{Name: "[sig-x] a [Conformance]"}}, Timeout: 20 * time.Minute}
	args := Args(o)
	for _, want := range []string{"--kubeconfig=/k/config", "--provider=local", "--report-dir=/r", "--kubectl-path=/k/kubectl", "--ginkgo.timeout=20m0s"} {
		if !slices.Contains(args, want) {
			t.Errorf("args lack %s: %q", want, args)
		}
	}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--ginkgo.focus=") }) {
		t.Errorf("args lack a focus: %q", args)
	}
}

const junitSample = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" disabled="3" errors="0" failures="1" time="10">
  <testsuite name="Kubernetes e2e suite" package="/" tests="5" disabled="3" skipped="0" errors="0" failures="1" time="10">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="1"></testcase>
    <testcase name="[It] [sig-x] a [Conformance]" classname="Kubernetes e2e suite" status="passed" time="2"></testcase>
    <testcase name="[It] [sig-x] b [Conformance]" classname="Kubernetes e2e suite" status="failed" time="3">
      <failure message="[FAILED] timed out waiting for the condition" type="failed">[FAILED] timed out waiting for the condition
In [It] at: x.go:1</failure>
    </testcase>
    <testcase name="[It] [sig-x] c [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0"><skipped message="skipped - no second node"></skipped></testcase>
    <testcase name="[It] [sig-y] not focused" classname="Kubernetes e2e suite" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
  </testsuite>
</testsuites>`

func TestParseJUnit(t *testing.T) {
	var res Result
	tests := []Test{{Name: "[sig-x] a [Conformance]"}, {Name: "[sig-x] b [Conformance]"}, {Name: "[sig-x] c [Conformance]"}}
	if err := parseJUnit([]byte(junitSample), tests, &res); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Passed, []string{"[sig-x] a [Conformance]"}) || !slices.Equal(res.Failed, []string{"[sig-x] b [Conformance]"}) || !slices.Equal(res.Skipped, []string{"[sig-x] c [Conformance]"}) {
		t.Errorf("passed %q failed %q skipped %q", res.Passed, res.Failed, res.Skipped)
	}
	if !strings.Contains(res.Failures["[sig-x] b [Conformance]"], "timed out waiting") {
		t.Errorf("failure message = %q", res.Failures["[sig-x] b [Conformance]"])
	}
}

func TestParseWillRun(t *testing.T) {
	if n, ok := parseWillRun("Will run 30 of 3206 specs"); !ok || n != 30 {
		t.Errorf("= %d %v", n, ok)
	}
	if _, ok := parseWillRun("Ran 30 of 3206 Specs"); ok {
		t.Error("matched the wrong line")
	}
}

// The tracker follows the log: the test that starts, and how each ends.
func TestProgress(t *testing.T) {
	var seen []Progress
	tests := []Test{{Name: "[sig-x] a [Conformance]"}, {Name: "[sig-x] b [Conformance]"}, {Name: "[sig-x] c [Conformance]"}}
	tr := NewTracker(tests, func(p Progress) { seen = append(seen, p) })
	defer tr.Stop()
	for _, line := range []string{
		"[SynchronizedBeforeSuite] PASSED [0.024 seconds]",
		"[sig-x] b [Conformance] [sig-x, Conformance]",
		"  STEP: something [sig-x] a [Conformance]",
		"• [FAILED] [4.727 seconds]",
		"[sig-x] b [It] [Conformance] [sig-x, Conformance]",
		"[sig-x] a [Conformance] [sig-x, Conformance]",
		"• [10.095 seconds]",
	} {
		tr.Line(line)
	}
	if len(seen) != 4 {
		t.Fatalf("%d updates, want 4: %+v", len(seen), seen)
	}
	if seen[0].Current != "[sig-x] b [Conformance]" || seen[0].Remaining() != 3 {
		t.Errorf("first update %+v", seen[0])
	}
	if p := seen[1]; p.Failed != 1 || p.Current != "" || p.Last != "FAILED [sig-x] b [Conformance]" || p.Remaining() != 2 {
		t.Errorf("second update %+v", p)
	}
	last := seen[3]
	if last.Passed != 1 || last.Failed != 1 || last.Remaining() != 1 || last.Last != "PASSED [sig-x] a [Conformance]" {
		t.Errorf("last update %+v", last)
	}
	if s := last.String(); !strings.Contains(s, "1 passed, 1 failed, 1 remaining") || !strings.Contains(s, "PASSED [sig-x] a") {
		t.Errorf("String() = %q", s)
	}
}

// The names are the codenames with YAML's folded line breaks made single spaces, as e2e.test
// prints them.
func TestLoadConformance(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, filepath.FromSlash(ConformanceFile))
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte(`- testname: Priority and Fairness FlowSchema API
  codename: '[sig-api-machinery] API priority and fairness should support FlowSchema
    API operations [Conformance]'
  release: v1.29
- testname: Pods, basic
  codename: '[sig-node] Pods should be submitted and removed [NodeConformance] [Conformance]'
`), 0o644)
	tests, err := LoadConformance(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) != 2 || tests[0].Name != "[sig-api-machinery] API priority and fairness should support FlowSchema API operations [Conformance]" || tests[1].Why != "Pods, basic" {
		t.Errorf("tests %+v", tests)
	}
	os.WriteFile(p, []byte("- testname: x\n"), 0o644)
	if _, err := LoadConformance(dir); err == nil || !strings.Contains(err.Error(), "no codename") {
		t.Errorf("an entry without a codename: %v", err)
	}
	if _, err := LoadConformance(t.TempDir()); err == nil {
		t.Error("a tree without the list loaded")
	}
}

func TestMatching(t *testing.T) {
	tests := []Test{{Name: "[sig-node] Pods should run [Conformance]"}, {Name: "[sig-network] DNS should resolve [Conformance]"}}
	got, err := Matching(tests, `\[sig-node\]`)
	if err != nil || len(got) != 1 || got[0].Name != tests[0].Name {
		t.Errorf("Matching = %v, %v", got, err)
	}
	if _, err := Matching(tests, "nothing"); err == nil || !strings.Contains(err.Error(), "matches none") {
		t.Errorf("a focus matching nothing: %v", err)
	}
	if _, err := Matching(tests, "("); err == nil || !strings.Contains(err.Error(), `focus "("`) {
		t.Errorf("a bad regexp: %v", err)
	}
}
