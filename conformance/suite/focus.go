// Package suite runs the upstream conformance suite (e2e.test) against a cluster: a focus list
// of named tests, progress while it runs, the junit report and log under a results dir, and the
// outcome of every test.
package suite

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// Test is one entry of a focus list.
type Test struct {
	// Name is the test's full name as e2e.test prints it (and conformance.yaml's codename).
	Name string
	// Why is the comment above it: why it is in the list.
	Why string
	// Line is where the name is in the file.
	Line int
}

// ParseFocus reads a focus list: one full test name a line; the comment lines (#) right above
// a name say why the test is in the list, and every name must have one. Blank lines separate
// entries; a comment followed by a blank line is a free comment.
func ParseFocus(data []byte) ([]Test, error) {
	var tests []Test
	var why []string
	var problems []string
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			why = nil
		case strings.HasPrefix(line, "#"):
			why = append(why, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		default:
			if len(why) == 0 {
				problems = append(problems, fmt.Sprintf("line %d: %q has no comment saying why it is in the list", n, line))
			}
			if !strings.Contains(line, "[Conformance]") {
				problems = append(problems, fmt.Sprintf("line %d: %q is not a [Conformance] test", n, line))
			}
			if first, ok := seen[line]; ok {
				problems = append(problems, fmt.Sprintf("line %d: %q already on line %d", n, line, first))
			}
			seen[line] = n
			tests = append(tests, Test{Name: line, Why: strings.Join(why, " "), Line: n})
			why = nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("focus list: %s", strings.Join(problems, "; "))
	}
	if len(tests) == 0 {
		return nil, fmt.Errorf("focus list: no tests")
	}
	return tests, nil
}

// LoadFocus reads a focus list file.
func LoadFocus(path string) ([]Test, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tests, err := ParseFocus(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tests, nil
}

// FocusRegexp is the --ginkgo.focus expression that selects exactly the named tests: each
// name quoted, anchored at its end, and at its start to a word boundary (ginkgo matches the
// focus against the suite's description and the spec's full text joined by a space).
func FocusRegexp(tests []Test) string {
	parts := make([]string, len(tests))
	for i, t := range tests {
		parts[i] = `(^|\s)` + regexp.QuoteMeta(t.Name) + "$"
	}
	return strings.Join(parts, "|")
}

// ConformanceFile is where the Kubernetes tree lists its [Conformance] tests.
const ConformanceFile = "test/conformance/testdata/conformance.yaml"

// LoadConformance reads every [Conformance] test of the Kubernetes tree at kubernetesDir, from
// the list upstream keeps beside the suite (the codename is the name e2e.test prints).
func LoadConformance(kubernetesDir string) ([]Test, error) {
	path := filepath.Join(kubernetesDir, filepath.FromSlash(ConformanceFile))
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the conformance test list: %w", err)
	}
	var entries []struct {
		TestName string `json:"testname"`
		CodeName string `json:"codename"`
	}
	if err := yaml.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var tests []Test
	for i, e := range entries {
		name := strings.Join(strings.Fields(e.CodeName), " ")
		if name == "" {
			return nil, fmt.Errorf("%s: entry %d (%q) has no codename", path, i+1, e.TestName)
		}
		tests = append(tests, Test{Name: name, Why: e.TestName})
	}
	return tests, nil
}

// Matching are the tests whose names the regexp matches (as ginkgo's --focus would).
func Matching(tests []Test, focus string) ([]Test, error) {
	re, err := regexp.Compile(focus)
	if err != nil {
		return nil, fmt.Errorf("focus %q: %w", focus, err)
	}
	var out []Test
	for _, t := range tests {
		if re.MatchString(t.Name) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("focus %q matches none of the %d tests", focus, len(tests))
	}
	return out, nil
}
