package payload

import (
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"os"
)

// ErrNoPayload means the executable ends where its ELF image ends: a development build of the
// launcher that nothing was appended to.
var ErrNoPayload = errors.New("no payload appended to this executable (a development build?)")

// maxManifestLen bounds the manifest read before it is verified.
const maxManifestLen = 1 << 20

// Payload is the payload appended to one executable.
type Payload struct {
	// Path is the executable holding the payload.
	Path     string
	Footer   Footer
	Manifest Manifest
	manifest []byte
}

// Open reads and checks the footer and manifest of the executable at path; the archive itself
// is read only when it has to be unpacked.
func Open(path string) (*Payload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ft, err := readFooter(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if ft.ManifestLen > maxManifestLen {
		return nil, fmt.Errorf("%s: payload manifest of %d bytes is implausibly large: damaged file", path, ft.ManifestLen)
	}
	mb := make([]byte, ft.ManifestLen)
	if _, err := f.ReadAt(mb, int64(ft.Offset)); err != nil {
		return nil, fmt.Errorf("%s: reading payload manifest: %w", path, err)
	}
	if sha256.Sum256(mb) != ft.ManifestSum {
		return nil, fmt.Errorf("%s: payload manifest does not match its sha256 in the footer: damaged file", path)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Payload{Path: path, Footer: ft, Manifest: m, manifest: mb}, nil
}

// ID names the dir the payload unpacks to: the sha256 of its manifest.
func (p *Payload) ID() string { return p.Footer.ID() }

func readFooter(f *os.File, size int64) (Footer, error) {
	var ft Footer
	b := make([]byte, FooterSize)
	if size >= FooterSize {
		if _, err := f.ReadAt(b, size-FooterSize); err != nil {
			return ft, err
		}
	}
	err := ft.UnmarshalBinary(b)
	if errors.Is(err, errNoFooter) || size < FooterSize {
		if end, ok := elfEnd(f); ok && end >= size {
			return ft, ErrNoPayload
		}
		return ft, errors.New("the payload footer at the end of the file is missing or damaged: the download is truncated or corrupted, download it again")
	}
	if err != nil {
		return ft, err
	}
	if err := ft.checkSize(size); err != nil {
		return ft, fmt.Errorf("damaged payload: %w", err)
	}
	return ft, nil
}

// elfEnd returns where the ELF image of f ends: the furthest of its section contents, program
// segments and section header table. Bytes after it were appended.
func elfEnd(f *os.File) (int64, bool) {
	ef, err := elf.NewFile(f)
	if err != nil {
		return 0, false
	}
	var end uint64
	for _, s := range ef.Sections {
		if s.Type != elf.SHT_NOBITS {
			end = max(end, s.Offset+s.FileSize)
		}
	}
	for _, p := range ef.Progs {
		end = max(end, p.Off+p.Filesz)
	}
	// The section header table's place is only in the file header.
	h := make([]byte, 64)
	if _, err := f.ReadAt(h, 0); err != nil {
		return 0, false
	}
	bo := ef.ByteOrder
	switch ef.Class {
	case elf.ELFCLASS32:
		end = max(end, uint64(bo.Uint32(h[0x20:]))+uint64(bo.Uint16(h[0x2e:]))*uint64(bo.Uint16(h[0x30:])))
	case elf.ELFCLASS64:
		end = max(end, bo.Uint64(h[0x28:])+uint64(bo.Uint16(h[0x3a:]))*uint64(bo.Uint16(h[0x3c:])))
	}
	return int64(end), true
}
