package payload

import (
	"slices"
	"strings"
	"testing"
)

func TestWithPath(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"A=1", "PATH=/usr/bin:/bin"}, "PATH=/p/bin:/usr/bin:/bin"},
		{[]string{"A=1"}, "PATH=/p/bin"},
		{[]string{"PATH="}, "PATH=/p/bin"},
	} {
		got := WithPath(tc.env, "/p/bin")
		if got[len(got)-1] != tc.want || slices.ContainsFunc(got[:len(got)-1], func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
			t.Errorf("WithPath(%v) = %v, want one %s", tc.env, got, tc.want)
		}
		if !slices.Contains(got, "A=1") && slices.Contains(tc.env, "A=1") {
			t.Errorf("WithPath(%v) dropped A=1: %v", tc.env, got)
		}
	}
}
