package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is every timestamp in a layer and config: the bytes depend on the inputs alone.
var epoch = time.Unix(0, 0).UTC()

// File is one entry of a layer made here.
type File struct {
	Path    string // without a leading slash
	Mode    int64  // permission bits and setuid/setgid/sticky
	Dir     bool
	Symlink string // target, for a symbolic link
	Data    []byte
	UID     int
	GID     int
	PAX     map[string]string
}

// Dir, Exec, Regular and Link are shorthands for Files.
func Dir(p string, mode int64) File      { return File{Path: p, Mode: mode, Dir: true} }
func Exec(p string, data []byte) File    { return File{Path: p, Mode: 0o755, Data: data} }
func Regular(p string, data []byte) File { return File{Path: p, Mode: 0o644, Data: data} }
func Link(p, target string) File         { return File{Path: p, Mode: 0o777, Symlink: target} }
func (f File) header() (*tar.Header, error) {
	p := strings.TrimPrefix(path.Clean("/"+f.Path), "/")
	if p == "" {
		return nil, fmt.Errorf("layer entry %q: no path", f.Path)
	}
	h := &tar.Header{Name: p, Mode: f.Mode, Uid: f.UID, Gid: f.GID, ModTime: epoch, Format: tar.FormatPAX, PAXRecords: f.PAX}
	switch {
	case f.Dir:
		h.Typeflag, h.Name = tar.TypeDir, p+"/"
	case f.Symlink != "":
		h.Typeflag, h.Linkname = tar.TypeSymlink, f.Symlink
	default:
		h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
	}
	return h, nil
}

// FilesTar returns the files as a tar, sorted by path (so a dir precedes what it holds), with
// fixed times.
func FilesTar(files []File) ([]byte, error) {
	files = slices.Clone(files)
	slices.SortStableFunc(files, func(a, b File) int { return strings.Compare(path.Clean("/"+a.Path), path.Clean("/"+b.Path)) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, f := range files {
		if i > 0 && path.Clean("/"+files[i-1].Path) == path.Clean("/"+f.Path) {
			return nil, fmt.Errorf("layer entry %s given twice", f.Path)
		}
		h, err := f.header()
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Layer compresses an uncompressed layer tar once (gzip, one goroutine: the same tar gives the
// same bytes) and returns it as an OCI layer.
func Layer(tarData []byte) (v1.Layer, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(tarData); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	compressed := gz.Bytes()
	// Given gzip input, the layer serves those bytes as they are and hashes the tar inside
	// for the diff ID.
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// FilesLayer is Layer(FilesTar(files)).
func FilesLayer(files []File) (v1.Layer, error) {
	t, err := FilesTar(files)
	if err != nil {
		return nil, err
	}
	return Layer(t)
}

// Step is one layer of an image and the history line that says where it came from.
type Step struct {
	Layer     v1.Layer
	CreatedBy string
}

// NewImage stacks the layers on base (nil for an empty image) and sets the config: an OCI
// image for linux/amd64 with fixed timestamps.
func NewImage(base v1.Image, steps []Step, cfg v1.Config) (v1.Image, error) {
	img := base
	if img == nil {
		img = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	for _, s := range steps {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     s.Layer,
			History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: s.CreatedBy},
			MediaType: types.OCILayer,
		})
		if err != nil {
			return nil, err
		}
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
