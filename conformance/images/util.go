package images

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// hashJSON is the first 16 hex digits of the sha256 of v's JSON form.
func hashJSON(v any) (string, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(j)
	return hex.EncodeToString(sum[:8]), nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
