package releaseversion

import (
	"slices"
	"strings"
	"testing"
)

func TestParseAccepts(t *testing.T) {
	for _, tc := range []struct {
		in                  string
		upstream            string
		candidate, revision int
	}{
		{"v1.37.2+distro1", "v1.37.2", 0, 1},
		{"v1.37.2+distro10", "v1.37.2", 0, 10},
		{"v1.37.2-rc1+distro1", "v1.37.2-rc1", 1, 1},
		{"v1.37.2-rc12+distro3", "v1.37.2-rc12", 12, 3},
		{"v0.0.0+distro1", "v0.0.0", 0, 1},
	} {
		v, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if v.String() != tc.in || v.Upstream() != tc.upstream || v.Candidate() != tc.candidate || v.Revision() != tc.revision {
			t.Errorf("Parse(%q) = %s (upstream %s, rc %d, revision %d), want upstream %s, rc %d, revision %d",
				tc.in, v, v.Upstream(), v.Candidate(), v.Revision(), tc.upstream, tc.candidate, tc.revision)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		in, problem string
	}{
		{"1.37.2+distro1", `must start with "v"`},
		{"v1.37.2", "missing build metadata"},
		{"v1.37.2+", `must be "distroN"`},
		{"v1.37.2+distro", "revision is missing"},
		{"v1.37.2+distrox", `"x" is not a decimal number`},
		{"v1.37.2+distro0", "must be at least 1"},
		{"v1.37.2+distro01", "without leading zeros"},
		{"v1.37.2+distro-1", "not a decimal number"},
		{"v1.37.2+build5", `"build5" must be "distroN"`},
		{"v1.37.2+distro1.sha.abc", "not a decimal number"},
		{"v1.37.2+sha.distro1", `must be "distroN"`},
		{"v1.37.2-rcx+distro1", `prerelease "rcx" must be "rcM"`},
		{"v1.37.2-rc+distro1", "candidate number is missing"},
		{"v1.37.2-rc0+distro1", "must be at least 1"},
		{"v1.37.2-rc.1+distro1", "not a decimal number"},
		{"v1.37.2-beta1+distro1", `prerelease "beta1" must be "rcM"`},
		{"v1.37+distro1", "not a SemVer version"},
		{"v01.37.2+distro1", "not a SemVer version"},
		{"", `must start with "v"`},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", tc.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `"`+tc.in+`"`) || !strings.Contains(msg, tc.problem) {
			t.Errorf("Parse(%q) error %q: want it to quote the input and say %q", tc.in, msg, tc.problem)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"v1.37.2+distro2", "v1.37.2+distro1", 1},
		{"v1.37.3+distro1", "v1.37.2+distro9", 1},
		{"v1.37.2-rc1+distro1", "v1.37.2+distro1", -1},
		{"v1.37.2-rc9+distro1", "v1.37.2+distro1", -1},
		{"v1.37.2+distro10", "v1.37.2+distro9", 1},
		{"v1.37.2-rc10+distro1", "v1.37.2-rc9+distro1", 1},
		{"v1.37.2-rc1+distro2", "v1.37.2-rc1+distro1", 1},
		{"v1.38.0+distro1", "v1.37.20+distro5", 1},
		{"v2.0.0+distro1", "v1.99.99+distro99", 1},
		{"v1.37.2+distro1", "v1.37.2+distro1", 0},
	} {
		a, b := mustParse(t, tc.a), mustParse(t, tc.b)
		if got := a.Compare(b); got != tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", a, b, got, tc.want)
		}
		if got := b.Compare(a); got != -tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", b, a, got, -tc.want)
		}
		if got := a.Less(b); got != (tc.want < 0) {
			t.Errorf("%s.Less(%s) = %v", a, b, got)
		}
	}
}

func TestSort(t *testing.T) {
	want := []string{
		"v1.36.9+distro4",
		"v1.37.2-rc1+distro1",
		"v1.37.2-rc2+distro1",
		"v1.37.2-rc10+distro1",
		"v1.37.2+distro1",
		"v1.37.2+distro2",
		"v1.37.2+distro9",
		"v1.37.2+distro10",
		"v1.37.3+distro1",
	}
	var vs []Version
	for i := len(want) - 1; i >= 0; i-- {
		vs = append(vs, mustParse(t, want[i]))
	}
	Sort(vs)
	var got []string
	for _, v := range vs {
		got = append(got, v.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("Sort = %v, want %v", got, want)
	}
}

func TestNew(t *testing.T) {
	v, err := New("v1.37.2", 3)
	if err != nil || v.String() != "v1.37.2+distro3" {
		t.Fatalf("New = %v, %v", v, err)
	}
	for _, tc := range []struct {
		upstream string
		revision int
		problem  string
	}{
		{"1.37.2", 1, `upstream version "1.37.2": must start with "v"`},
		{"v1.37.2-rc.1", 1, "must be a release vX.Y.Z"},
		{"v1.37.2+distro1", 1, "must be a release vX.Y.Z"},
		{"v1.37", 1, `upstream version "v1.37"`},
		{"v1.37.2", 0, "revision 0: must be at least 1"},
	} {
		_, err := New(tc.upstream, tc.revision)
		if err == nil || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("New(%q, %d) error %v, want it to say %q", tc.upstream, tc.revision, err, tc.problem)
		}
	}
}

func mustParse(t *testing.T, s string) Version {
	t.Helper()
	v, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
