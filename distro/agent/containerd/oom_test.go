package containerd

import (
	"os"
	"strings"
	"testing"
)

// The probe writes into a real child: raising its oom_score_adj is always allowed, lowering it
// only with CAP_SYS_RESOURCE in the host's user namespace. The decision follows what this
// process holds (the test machine lacks CAP_SYS_RESOURCE, so it expects "restrict").
func TestDetectOOMScoreAdj(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the answer as another user is always restrict, which tests nothing")
	}
	if err := tryLowerOOMScoreAdj(500); err != nil {
		t.Fatalf("raising a child's oom_score_adj failed, so the probe itself is broken: %v", err)
	}
	has, why := hasSysResource()
	restrict, reason := DetectOOMScoreAdj()
	t.Logf("CAP_SYS_RESOURCE: %v (%s); restrict: %v (%s)", has, why, restrict, reason)
	if restrict == has {
		t.Errorf("restrict = %v although CAP_SYS_RESOURCE usable = %v: %s", restrict, has, reason)
	}
	if restrict && !strings.Contains(reason, "refused") {
		t.Errorf("reason %q: want the refused write, not the fallback", reason)
	}
}
