package images

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// Annotations naming an image in index.json: containerd's import takes the full reference from
// the first, the OCI layout spec defines the second (the tag alone).
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// WriteArchive writes imgs as one tar that is both an OCI image layout (oci-layout, index.json,
// blobs/sha256/…; containerd imports it keeping the manifest digests) and a `docker save`
// archive (manifest.json pointing at the same blobs; docker load and go-containerregistry read
// it). Entries are sorted and timestamps fixed, so the same images give the same bytes.
func WriteArchive(w io.Writer, imgs []Named) error {
	imgs = slices.Clone(imgs)
	slices.SortFunc(imgs, func(a, b Named) int { return strings.Compare(a.Ref, b.Ref) })
	blobs := map[string][]byte{} // by hex digest
	var index v1.IndexManifest
	index.SchemaVersion = 2
	index.MediaType = types.OCIImageIndex
	type dockerEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var docker []dockerEntry
	for i, n := range imgs {
		if i > 0 && imgs[i-1].Ref == n.Ref {
			return fmt.Errorf("image %s given twice", n.Ref)
		}
		tag, err := name.NewTag(n.Ref, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("image reference %q: %w", n.Ref, err)
		}
		desc, entry, err := addImage(blobs, n.Image)
		if err != nil {
			return fmt.Errorf("image %s: %w", n.Ref, err)
		}
		desc.Annotations = map[string]string{annotationImageName: tag.Name(), annotationRefName: tag.TagStr()}
		index.Manifests = append(index.Manifests, desc)
		docker = append(docker, dockerEntry{Config: entry.config, RepoTags: []string{tag.Name()}, Layers: entry.layers})
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	dockerJSON, err := json.Marshal(docker)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	digests := make([]string, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d)
	}
	slices.Sort(digests)
	for _, d := range digests {
		if err := writeFile(tw, blobPath(d), blobs[d]); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", indexJSON},
		{"manifest.json", dockerJSON},
	} {
		if err := writeFile(tw, f.name, f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

type dockerPaths struct {
	config string
	layers []string
}

// addImage puts the manifest, config and compressed layers of img into blobs and returns the
// manifest's descriptor.
func addImage(blobs map[string][]byte, img v1.Image) (v1.Descriptor, dockerPaths, error) {
	var paths dockerPaths
	manifest, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, paths, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, paths, err
	}
	mediaType, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, paths, err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, paths, err
	}
	configName, err := img.ConfigName()
	if err != nil {
		return v1.Descriptor{}, paths, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, paths, err
	}
	blobs[digest.Hex] = manifest
	blobs[configName.Hex] = config
	paths.config = blobPath(configName.Hex)
	layers, err := img.Layers()
	if err != nil {
		return v1.Descriptor{}, paths, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return v1.Descriptor{}, paths, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return v1.Descriptor{}, paths, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return v1.Descriptor{}, paths, err
		}
		blobs[d.Hex] = b
		paths.layers = append(paths.layers, blobPath(d.Hex))
	}
	return v1.Descriptor{
		MediaType: mediaType,
		Digest:    digest,
		Size:      int64(len(manifest)),
		Platform:  &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
	}, paths, nil
}

func blobPath(hex string) string { return "blobs/sha256/" + hex }

func writeFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX,
	}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// WriteArchiveFile writes the archive to path, zstd-compressed when path ends in .zst, and
// replaces path only once it is complete.
func WriteArchiveFile(path string, imgs []Named) error {
	var buf bytes.Buffer
	if err := WriteArchive(&buf, imgs); err != nil {
		return err
	}
	data := buf.Bytes()
	if strings.HasSuffix(path, ".zst") {
		// One encoder goroutine: the frame layout, and so the bytes, then depend on the
		// input alone.
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		data = enc.EncodeAll(data, nil)
	}
	return writeAtomic(path, data, 0o644)
}

// WriteList writes the image references, one a line and sorted, as the release's image list.
func WriteList(path string, imgs []Named) error {
	refs := make([]string, 0, len(imgs))
	for _, n := range imgs {
		refs = append(refs, n.Ref+"\n")
	}
	slices.Sort(refs)
	return writeAtomic(path, []byte(strings.Join(refs, "")), 0o644)
}

// ReadArchiveFile returns the uncompressed tar of an archive written by WriteArchiveFile.
func ReadArchiveFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil || filepath.Ext(path) != ".zst" {
		return data, err
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	return dec.DecodeAll(data, nil)
}
