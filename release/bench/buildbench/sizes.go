package buildbench

import (
	"context"
	"os"

	"github.com/distro-io/distro/distro/payload"
	"github.com/distro-io/distro/release/build"
	"github.com/distro-io/distro/release/strip"
)

// Sizes are the bytes that matter to a user.
type Sizes struct {
	Binary   uint64 // the multicall binary, as it runs once unpacked
	Download uint64 // the self-extracting file users download
	Payload  uint64 // the compressed payload inside it (manifest and archive)
	Launcher uint64 // what precedes the payload
	Unpacked uint64 // the files the payload unpacks to, together
}

// MeasureSizes reads the binary's size and the payload footer and manifest of the download.
func MeasureSizes(binary, download string) (Sizes, error) {
	var s Sizes
	st, err := os.Stat(binary)
	if err != nil {
		return s, err
	}
	s.Binary = uint64(st.Size())
	if st, err = os.Stat(download); err != nil {
		return s, err
	}
	s.Download = uint64(st.Size())
	p, err := payload.Open(download)
	if err != nil {
		return s, err
	}
	s.Launcher = p.Footer.Offset
	s.Payload = uint64(p.Footer.ManifestLen) + p.Footer.ArchiveLen
	for _, f := range p.Manifest.Files {
		s.Unpacked += uint64(f.Size)
	}
	return s, nil
}

// Packages counts the non-standard packages the binary links, as the strip audit lists them.
func Packages(ctx context.Context, moduleDir, goWork string) (int, error) {
	deps, err := strip.ListDeps(ctx, moduleDir, goWork, build.Tags, build.MainPackage)
	return len(deps), err
}
