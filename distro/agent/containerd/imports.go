package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// Namespace is containerd's namespace for everything the kubelet runs and sees.
const Namespace = "k8s.io"

// Labels of imported images, as containerd's CRI plugin sets them on images it pulls: managed
// by CRI, and pinned, which the kubelet's image GC reads as "never remove". containerd's own GC
// never removes an image record; the content it references stays with it.
const (
	LabelManaged = "io.cri-containerd.image"
	LabelPinned  = "io.cri-containerd.pinned"
	pinned       = "pinned" // LabelPinned's value
)

var importLabels = map[string]string{LabelManaged: "managed", LabelPinned: pinned}

// archiveSuffixes are the airgap archive names imported: docker save or OCI layout tars, plain
// or zstd-compressed.
var archiveSuffixes = []string{".tar", ".tar.zst"}

// importRecord remembers what each archive held when it was imported, by path.
type importRecord struct {
	Archives map[string]archiveRecord `json:"archives"`
}

type archiveRecord struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"modTime"` // unix nanoseconds
	SHA256  string `json:"sha256"`
	// Images maps each image name the archive created to its manifest digest.
	Images map[string]string `json:"images"`
}

// ImportResult says what ImportArchives did.
type ImportResult struct {
	Imported, Skipped []string // archive paths
	Images            []string // names of the images imported now
	// Archived maps every image of the archives, imported now or unchanged since an earlier
	// import, to its target digest; a later archive's image of the same name wins, as in
	// containerd.
	Archived map[string]digest.Digest
}

// ImportArchives imports the archives at paths into the k8s.io namespace, labelled managed and
// pinned and unpacked for snapshotter. An archive is skipped when its size and modification
// time match the record and every image it created is still there with the same digest and
// labels; the record is kept at recordPath, by path.
func ImportArchives(ctx context.Context, client *containerd.Client, paths []string, recordPath, snapshotter string) (ImportResult, error) {
	res := ImportResult{Archived: map[string]digest.Digest{}}
	ctx = namespaces.WithNamespace(ctx, Namespace)
	if len(paths) == 0 {
		return res, nil
	}
	rec := loadRecord(recordPath)
	seen := map[string]bool{}
	for _, path := range paths {
		seen[path] = true
		st, err := os.Stat(path)
		if err != nil {
			return res, err
		}
		old, ok := rec.Archives[path]
		if ok && old.Size == st.Size() && old.ModTime == st.ModTime().UnixNano() && present(ctx, client, old.Images) {
			res.Skipped = append(res.Skipped, path)
			addArchived(res.Archived, old.Images)
			continue
		}
		r, err := importArchive(ctx, client, path, snapshotter)
		if err != nil {
			return res, fmt.Errorf("importing %s: %w", path, err)
		}
		r.Size, r.ModTime = st.Size(), st.ModTime().UnixNano()
		rec.Archives[path] = r
		res.Imported = append(res.Imported, path)
		for img := range r.Images {
			res.Images = append(res.Images, img)
		}
		addArchived(res.Archived, r.Images)
		// Saved after each archive, so one that fails later does not cost the others' work.
		if err := saveRecord(recordPath, rec); err != nil {
			return res, err
		}
	}
	for path := range rec.Archives {
		if !seen[path] {
			delete(rec.Archives, path)
		}
	}
	slices.Sort(res.Images)
	return res, saveRecord(recordPath, rec)
}

func addArchived(archived map[string]digest.Digest, imgs map[string]string) {
	for name, d := range imgs {
		archived[name] = digest.Digest(d)
	}
}

// ArchivesIn lists the paths of the archives in dir, sorted; a missing dir holds none.
func ArchivesIn(dir string) ([]string, error) {
	names, err := archives(dir)
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(dir, n)
	}
	return paths, err
}

// archives lists the archive file names in dir, sorted; a missing dir holds none.
func archives(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		for _, s := range archiveSuffixes {
			if strings.HasSuffix(e.Name(), s) {
				names = append(names, e.Name())
				break
			}
		}
	}
	return names, nil
}

// present reports whether every image is in containerd with the digest and labels an import
// gives it.
func present(ctx context.Context, client *containerd.Client, imgs map[string]string) bool {
	if len(imgs) == 0 {
		return false
	}
	for name, digest := range imgs {
		img, err := client.ImageService().Get(ctx, name)
		if err != nil || img.Target.Digest.String() != digest {
			return false
		}
		for k, v := range importLabels {
			if img.Labels[k] != v {
				return false
			}
		}
	}
	return true
}

func importArchive(ctx context.Context, client *containerd.Client, path, snapshotter string) (archiveRecord, error) {
	rec := archiveRecord{Images: map[string]string{}}
	f, err := os.Open(path)
	if err != nil {
		return rec, err
	}
	defer f.Close()
	sum := sha256.New()
	var r io.Reader = io.TeeReader(f, sum)
	if strings.HasSuffix(path, ".zst") {
		dec, err := zstd.NewReader(r)
		if err != nil {
			return rec, err
		}
		defer dec.Close()
		r = dec
	}
	imgs, err := client.Import(ctx, r, containerd.WithImageLabels(importLabels))
	if err != nil {
		return rec, err
	}
	// The importer stops at the end of the tar; the hash covers the whole file.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return rec, err
	}
	if len(imgs) == 0 {
		return rec, errors.New("the archive names no image")
	}
	for _, img := range imgs {
		// Unpacked now, so the first sandbox does not wait for it.
		if err := containerd.NewImage(client, img).Unpack(ctx, snapshotter); err != nil {
			return rec, fmt.Errorf("unpacking %s: %w", img.Name, err)
		}
		rec.Images[img.Name] = img.Target.Digest.String()
		klog.InfoS("Imported image", "image", img.Name, "digest", img.Target.Digest, "archive", path)
	}
	rec.SHA256 = hex.EncodeToString(sum.Sum(nil))
	return rec, nil
}

// loadRecord reads the record; a missing or unreadable one is empty, which only costs a
// re-import.
func loadRecord(path string) importRecord {
	rec := importRecord{Archives: map[string]archiveRecord{}}
	data, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			klog.ErrorS(err, "Ignoring the image import record", "path", path)
		}
		return rec
	}
	if err := json.Unmarshal(data, &rec); err != nil || rec.Archives == nil {
		klog.ErrorS(err, "Ignoring the image import record", "path", path)
		return importRecord{Archives: map[string]archiveRecord{}}
	}
	return rec
}

func saveRecord(path string, rec importRecord) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'), 0o644)
}
