package payload

import (
	"os"
	"strings"
)

// WithPath returns env with binDir first on PATH, so that the programs unpacked there
// (the shim, runc, the CNI plugins) are found before any copy the host may have.
func WithPath(env []string, binDir string) []string {
	out := make([]string, 0, len(env)+1)
	path := binDir
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			if v != "" {
				path = binDir + string(os.PathListSeparator) + v
			}
			continue
		}
		out = append(out, kv)
	}
	return append(out, "PATH="+path)
}
