// Package checksums writes sha256sum-amd64.txt, the SHA-256 of every other artifact in
// the format `sha256sum --check` reads, and reads such a file back for verification.
package checksums

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/distro-io/distro/release/pipeline"
)

// File is the asset name of the checksum file.
const File = "sha256sum-amd64.txt"

// Step is the checksums step. It runs after every other artifact exists.
type Step struct{}

var _ pipeline.Step = Step{}

// Name implements pipeline.Step.
func (Step) Name() string { return "checksums" }

// Run implements pipeline.Step.
func (Step) Run(_ context.Context, c *pipeline.Context) (pipeline.Result, error) {
	var files []pipeline.Artifact
	for _, a := range c.Artifacts {
		if a.Name != File {
			files = append(files, a)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no artifacts to checksum")
	}
	data, err := Format(files)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(c.DistDir, File)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, err
	}
	c.Add(pipeline.Artifact{Name: File, Path: path})
	return pipeline.Done{Detail: fmt.Sprintf("%s lists %d files", path, len(files))}, nil
}

// Format returns the checksum file for the artifacts: one "<hex>  <name>" line each,
// in the given order.
func Format(files []pipeline.Artifact) ([]byte, error) {
	var buf bytes.Buffer
	for _, a := range files {
		if strings.ContainsAny(a.Name, "\n\\") {
			return nil, fmt.Errorf("artifact name %q cannot be written in sha256sum format", a.Name)
		}
		sum, err := SHA256File(a.Path)
		if err != nil {
			return nil, fmt.Errorf("checksum of %s: %w", a.Name, err)
		}
		fmt.Fprintf(&buf, "%s  %s\n", sum, a.Name)
	}
	return buf.Bytes(), nil
}

// SHA256File returns the hex SHA-256 of a file.
func SHA256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Parse reads a checksum file into name → hex SHA-256, accepting sha256sum's text
// ("  ") and binary (" *") separators and refusing anything else by line.
func Parse(data []byte) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		if len(line) < 67 || (line[64:66] != "  " && line[64:66] != " *") {
			return nil, fmt.Errorf("line %d %q: want \"<64 hex digits>  <name>\"", n, line)
		}
		sum, name := line[:64], line[66:]
		if _, err := hex.DecodeString(sum); err != nil || strings.ToLower(sum) != sum {
			return nil, fmt.Errorf("line %d: %q is not a lower-case hex SHA-256", n, sum)
		}
		if _, dup := sums[name]; dup {
			return nil, fmt.Errorf("line %d: %s is listed twice", n, name)
		}
		sums[name] = sum
	}
	return sums, sc.Err()
}
