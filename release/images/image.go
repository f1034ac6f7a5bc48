// Package images builds the container images distro ships instead of pulling them (the pause
// image from upstream's source, CoreDNS from its locked module) and writes them as archives
// containerd imports at node start. Every output is reproducible: fixed times, sorted
// entries, no build-host paths.
package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Named is an image and the reference it is imported under.
type Named struct {
	Ref   string
	Image v1.Image
}

// epoch is every timestamp in an image and archive: the bytes must not depend on when they
// were built.
var epoch = time.Unix(0, 0).UTC()

// SingleFileImage returns a scratch image for linux/amd64 holding one executable at /<name>, as an
// OCI image with one gzip layer. pax are the file's PAX records (extended attributes, for one).
func SingleFileImage(name string, content []byte, pax map[string]string, cfg v1.Config) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{
		Typeflag:   tar.TypeReg,
		Name:       name,
		Mode:       0o755,
		Size:       int64(len(content)),
		ModTime:    epoch,
		Format:     tar.FormatPAX,
		PAXRecords: pax,
	}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(content); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerTar := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "ADD " + name + " /" + name},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}
