package payload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/distro-io/distro/distro/version"
)

// Verify hashes every file of an unpacked payload, given its bin dir (what Ensure returns, or
// the dir of the running real binary), and reports each file that differs from the manifest.
// The manifest itself is checked against the dir's name, which is its sha256, so Verify needs
// nothing but the disk. Unlike the fast path of Ensure it does not mind modification times.
func Verify(binDir string) error {
	binDir, err := filepath.EvalSymlinks(binDir)
	if err != nil {
		return fmt.Errorf("verifying payload: %w", err)
	}
	dir := filepath.Dir(binDir)
	mb, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return fmt.Errorf("verifying %s: %w", dir, err)
	}
	sum := sha256.Sum256(mb)
	if hex.EncodeToString(sum[:]) != filepath.Base(dir) {
		return fmt.Errorf("verifying %s: %s does not match the dir's name (its sha256)", dir, ManifestName)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", dir, err)
	}
	var errs []error
	for _, f := range m.Files {
		if err := verifyFile(filepath.Join(binDir, f.Name), f); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		errs = append(errs, fmt.Errorf("remove %s and start %s again to unpack it anew", dir, version.Program))
	}
	return errors.Join(errs...)
}

// VerifyCurrent verifies the payload <dataDir>/data/current points at.
func VerifyCurrent(dataDir string) error {
	return Verify(filepath.Join(dataDir, dataSubdir, currentName, BinSubdir))
}

func verifyFile(path string, f File) error {
	if _, err := statMatches(path, f); err != nil {
		return err
	}
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	h := sha256.New()
	if _, err := io.Copy(h, in); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("%s: sha256 %s, manifest says %s", path, got, f.SHA256)
	}
	return nil
}
