// Package payload finds the archive appended to the launcher executable, unpacks it into the
// data dir and checks what was unpacked.
//
// The file users download is a small launcher followed by the payload and a fixed footer:
//
//	launcher executable | manifest (JSON) | archive (tar, zstd) | footer (FooterSize bytes)
//
// The manifest names every file with its size, mode and sha256. The payload is unpacked to
// <data-dir>/data/<ID>/bin, where ID is the sha256 of the manifest: since the manifest pins
// every file by hash, the ID names the content exactly, and an unpacked dir can be verified
// from the disk alone (Verify) by the real binary, which has no payload of its own.
//
// On disk:
//
//	<data-dir>/data/.lock               flock held while unpacking
//	<data-dir>/data/current -> <ID>     the payload last ensured, replaced atomically
//	<data-dir>/data/<ID>/manifest.json  the manifest, whose sha256 is <ID>
//	<data-dir>/data/<ID>/bin/           distro, runc, the CNI plugins
//
// Dirs of older payloads are never removed here: a node still running an older version
// executes from its dir.
//
// This package is imported by the launcher: it must stay small (standard library, zstd).
package payload

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// FooterSize is the length of the footer at the very end of a launcher with a payload.
const FooterSize = 96

// footerMagic ends every footer; a file whose last bytes differ carries no intact payload.
var footerMagic = [8]byte{'D', 'P', 'A', 'Y', 'L', 'O', 'A', 'D'}

// FormatVersion changes whenever the layout of footer, manifest or archive changes.
const FormatVersion = 1

// Footer locates the manifest and the archive inside the executable.
//
// Layout (little endian): manifest sha256 [32] | archive sha256 [32] | payload offset u64 |
// manifest length u32 | format version u32 | archive length u64 | magic [8].
type Footer struct {
	// ManifestSum is the sha256 of the manifest bytes and names the unpacked dir.
	ManifestSum [32]byte
	// ArchiveSum is the sha256 of the compressed archive, checked while unpacking.
	ArchiveSum [32]byte
	// Offset is where the manifest starts; the archive follows it directly.
	Offset        uint64
	ManifestLen   uint32
	ArchiveLen    uint64
	FormatVersion uint32
}

// ID is the name of the dir the payload unpacks to.
func (f Footer) ID() string { return hex.EncodeToString(f.ManifestSum[:]) }

// ArchiveOffset is where the compressed archive starts.
func (f Footer) ArchiveOffset() uint64 { return f.Offset + uint64(f.ManifestLen) }

// MarshalBinary encodes the footer in its fixed layout.
func (f Footer) MarshalBinary() ([]byte, error) {
	b := make([]byte, FooterSize)
	copy(b[0:32], f.ManifestSum[:])
	copy(b[32:64], f.ArchiveSum[:])
	binary.LittleEndian.PutUint64(b[64:72], f.Offset)
	binary.LittleEndian.PutUint32(b[72:76], f.ManifestLen)
	binary.LittleEndian.PutUint32(b[76:80], f.FormatVersion)
	binary.LittleEndian.PutUint64(b[80:88], f.ArchiveLen)
	copy(b[88:96], footerMagic[:])
	return b, nil
}

// errNoFooter means the file does not end in a footer.
var errNoFooter = errors.New("no payload footer")

// UnmarshalBinary decodes a footer and checks it against the size of the file holding it.
func (f *Footer) UnmarshalBinary(b []byte) error {
	if len(b) != FooterSize || !bytes.Equal(b[88:96], footerMagic[:]) {
		return errNoFooter
	}
	copy(f.ManifestSum[:], b[0:32])
	copy(f.ArchiveSum[:], b[32:64])
	f.Offset = binary.LittleEndian.Uint64(b[64:72])
	f.ManifestLen = binary.LittleEndian.Uint32(b[72:76])
	f.FormatVersion = binary.LittleEndian.Uint32(b[76:80])
	f.ArchiveLen = binary.LittleEndian.Uint64(b[80:88])
	if f.FormatVersion != FormatVersion {
		return fmt.Errorf("payload format version %d, this launcher reads version %d", f.FormatVersion, FormatVersion)
	}
	return nil
}

// checkSize makes sure the footer describes a file of exactly size bytes.
func (f Footer) checkSize(size int64) error {
	end := f.ArchiveOffset() + f.ArchiveLen + FooterSize
	if f.ManifestLen == 0 || f.ArchiveLen == 0 || end < f.Offset || end != uint64(size) {
		return fmt.Errorf("footer describes a %d byte file but the file has %d bytes", end, size)
	}
	return nil
}

// Manifest lists the files of a payload, sorted by name.
type Manifest struct {
	Files []File `json:"files"`
}

// File is one executable in the payload, unpacked to bin/<Name>.
type File struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// SHA256 is hex encoded.
	SHA256 string `json:"sha256"`
	// Mode holds the permission bits only.
	Mode fs.FileMode `json:"mode"`
}

// MarshalManifest encodes m in the one byte form the payload ID is computed from.
func MarshalManifest(m Manifest) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseManifest decodes and validates a manifest.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if err := m.validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Lookup returns the file called name.
func (m Manifest) Lookup(name string) (File, bool) {
	i, ok := slices.BinarySearchFunc(m.Files, name, func(f File, n string) int { return strings.Compare(f.Name, n) })
	if !ok {
		return File{}, false
	}
	return m.Files[i], true
}

func (m Manifest) validate() error {
	if len(m.Files) == 0 {
		return errors.New("manifest: no files")
	}
	for i, f := range m.Files {
		if err := ValidName(f.Name); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		if i > 0 && m.Files[i-1].Name >= f.Name {
			return fmt.Errorf("manifest: files not sorted or %q listed twice", f.Name)
		}
		if f.Size < 0 {
			return fmt.Errorf("manifest: %s: negative size", f.Name)
		}
		if f.Mode&^fs.ModePerm != 0 {
			return fmt.Errorf("manifest: %s: mode %v has more than permission bits", f.Name, f.Mode)
		}
		if s, err := hex.DecodeString(f.SHA256); err != nil || len(s) != 32 {
			return fmt.Errorf("manifest: %s: sha256 %q is not 64 hex digits", f.Name, f.SHA256)
		}
	}
	return nil
}

// ValidName accepts a plain file name: no separators, not "." or "..", nothing hidden.
func ValidName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\\\x00") || name[0] == '.' {
		return fmt.Errorf("invalid file name %q", name)
	}
	return nil
}
