package payload

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Names inside <data-dir>/data. Each payload unpacks to its own <ID> dir, and older dirs are
// never removed here: a node still running the previous version executes from its dir, and a
// restart onto it must find it intact. Pruning them is a separate, explicit action.
const (
	dataSubdir   = "data"
	lockName     = ".lock"
	currentName  = "current"
	ManifestName = "manifest.json"
	BinSubdir    = "bin"
	unpackPrefix = ".unpack-"
)

// unpackedTime is the modification time of every unpacked file: a file written to later gets
// a new one, which the fast path notices without reading the file.
var unpackedTime = time.Unix(0, 0)

// Result says where the payload is and whether this call unpacked it.
type Result struct {
	BinDir string
	// Unpacked is true when this call wrote the files.
	Unpacked bool
	// Reason says what was wrong with files unpacked before; empty on a first unpack.
	Reason string
}

// errNotUnpacked means the payload's dir does not exist: a first start, nothing to repair.
var errNotUnpacked = errors.New("not unpacked")

// Ensure makes sure the payload of the running executable is unpacked under dataDir and
// returns the dir holding its executables.
func Ensure(dataDir string) (binDir string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	p, err := Open(exe)
	if err != nil {
		return "", err
	}
	r, err := p.Ensure(dataDir)
	return r.BinDir, err
}

// Ensure unpacks the payload to <dataDir>/data/<ID>/bin unless it is already there, and points
// <dataDir>/data/current at it.
//
// The fast path only stats files: every manifest file present with the right size, mode and
// the fixed modification time unpacking gave it (a later write changes it). Content is
// checked against the manifest's sha256 while unpacking, and later by Verify. Dirs of other
// payloads are left alone.
// Unpacking runs under an exclusive lock on <dataDir>/data/.lock into a temp dir beside the
// target, which is renamed into place only after every file was verified and synced.
func (p *Payload) Ensure(dataDir string) (Result, error) {
	root := filepath.Join(dataDir, dataSubdir)
	dir := filepath.Join(root, p.ID())
	r := Result{BinDir: filepath.Join(dir, BinSubdir)}
	if p.quickCheck(dir) == nil && currentIs(root, p.ID()) {
		return r, nil
	}

	if err := os.MkdirAll(root, 0o755); err != nil {
		return r, err
	}
	unlock, err := lock(filepath.Join(root, lockName))
	if err != nil {
		return r, err
	}
	defer unlock()

	// Another process may have finished while this one waited for the lock.
	if err := p.quickCheck(dir); err != nil {
		r.Unpacked = true
		if err != errNotUnpacked {
			r.Reason = err.Error()
		}
		if err := p.unpack(root, dir); err != nil {
			return r, err
		}
	}
	return r, setCurrent(root, p.ID())
}

// quickCheck reports the first file of the unpacked dir that is missing or has the wrong size,
// type, mode or modification time.
func (p *Payload) quickCheck(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return errNotUnpacked
	}
	st, err := os.Lstat(filepath.Join(dir, ManifestName))
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Size() != int64(len(p.manifest)) || !st.ModTime().Equal(unpackedTime) {
		return fmt.Errorf("%s: not the manifest as unpacked", ManifestName)
	}
	for _, f := range p.Manifest.Files {
		path := filepath.Join(dir, BinSubdir, f.Name)
		st, err := statMatches(path, f)
		if err != nil {
			return err
		}
		if !st.ModTime().Equal(unpackedTime) {
			return fmt.Errorf("%s: modified since it was unpacked", path)
		}
	}
	return nil
}

// statMatches checks type, size and mode of an unpacked file.
func statMatches(path string, f File) (fs.FileInfo, error) {
	st, err := os.Lstat(path)
	switch {
	case err != nil:
		return nil, err
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s: not a regular file", path)
	case st.Size() != f.Size:
		return nil, fmt.Errorf("%s: size %d, want %d", path, st.Size(), f.Size)
	case st.Mode().Perm() != f.Mode:
		return nil, fmt.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), f.Mode)
	}
	return st, nil
}

// unpack writes the archive to a temp dir in root, verifies it and moves it to dir. The caller
// holds the lock.
func (p *Payload) unpack(root, dir string) error {
	// Left by an unpack that was killed: nobody else unpacks while the lock is held.
	if stale, _ := filepath.Glob(filepath.Join(root, unpackPrefix+"*")); len(stale) > 0 {
		for _, s := range stale {
			os.RemoveAll(s)
		}
	}
	tmp, err := os.MkdirTemp(root, unpackPrefix+p.ID()[:12]+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(tmp, BinSubdir), 0o755); err != nil {
		return err
	}
	if err := p.writeFiles(tmp); err != nil {
		return fmt.Errorf("unpacking %s: %w", p.Path, err)
	}
	if err := writeFileSync(filepath.Join(tmp, ManifestName), p.manifest, 0o644); err != nil {
		return err
	}
	if err := syncDir(filepath.Join(tmp, BinSubdir)); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := replaceDir(tmp, dir); err != nil {
		return err
	}
	return syncDir(root)
}

// writeFiles streams the archive once: each file is hashed as it is written, and the
// compressed bytes are hashed on the way in.
func (p *Payload) writeFiles(dst string) error {
	exe, err := os.Open(p.Path)
	if err != nil {
		return err
	}
	defer exe.Close()
	archiveHash := sha256.New()
	in := io.TeeReader(io.NewSectionReader(exe, int64(p.Footer.ArchiveOffset()), int64(p.Footer.ArchiveLen)), archiveHash)
	zr, err := zstd.NewReader(in)
	if err != nil {
		return err
	}
	defer zr.Close()

	tr := tar.NewReader(zr)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("archive damaged: %w", err)
		}
		if h.Name == ManifestName {
			b, err := io.ReadAll(io.LimitReader(tr, maxManifestLen+1))
			if err != nil {
				return fmt.Errorf("archive damaged: %w", err)
			}
			if !bytes.Equal(b, p.manifest) {
				return errors.New("the manifest inside the archive differs from the one beside it")
			}
			seen[h.Name] = true
			continue
		}
		name, ok := strings.CutPrefix(h.Name, BinSubdir+"/")
		f, listed := p.Manifest.Lookup(name)
		if !ok || !listed || h.Typeflag != tar.TypeReg || seen[h.Name] {
			return fmt.Errorf("archive entry %q is not a file listed in the manifest", h.Name)
		}
		seen[h.Name] = true
		if h.Size != f.Size {
			return fmt.Errorf("%s: %d bytes in the archive, manifest says %d", name, h.Size, f.Size)
		}
		if err := writeVerified(filepath.Join(dst, BinSubdir, name), tr, f); err != nil {
			return err
		}
	}
	// The tar ends before the compressed stream does; hash the rest too.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return err
	}
	if !bytes.Equal(archiveHash.Sum(nil), p.Footer.ArchiveSum[:]) {
		return errors.New("archive does not match its sha256 in the footer: the file is corrupted, download it again")
	}
	for _, f := range p.Manifest.Files {
		if !seen[BinSubdir+"/"+f.Name] {
			return fmt.Errorf("%s: listed in the manifest but missing from the archive", f.Name)
		}
	}
	if !seen[ManifestName] {
		return errors.New("archive holds no manifest")
	}
	return nil
}

func writeVerified(path string, r io.Reader, f File) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(r, f.Size))
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	if n != f.Size {
		return fmt.Errorf("%s: archive ended after %d of %d bytes", f.Name, n, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("%s: sha256 %s, manifest says %s: the file is corrupted, download it again", f.Name, got, f.SHA256)
	}
	return finish(out, f.Mode)
}

// finish gives an unpacked file its mode and fixed time and makes it durable.
func finish(out *os.File, mode fs.FileMode) error {
	if err := out.Chmod(mode); err != nil {
		return err
	}
	if err := os.Chtimes(out.Name(), unpackedTime, unpackedTime); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// replaceDir moves tmp to dir. A damaged dir that already exists is swapped out in one step,
// so no process ever sees dir missing; tmp then holds the old files and is removed by the caller.
func replaceDir(tmp, dir string) error {
	err := os.Rename(tmp, dir)
	if err == nil {
		return nil
	}
	if _, serr := os.Lstat(dir); serr != nil {
		return err
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// The filesystem cannot exchange: move the old dir aside first.
		old := tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return err
		}
		defer os.RemoveAll(old)
		return os.Rename(tmp, dir)
	}
	if err != nil {
		return fmt.Errorf("replacing %s: %w", dir, err)
	}
	return nil
}

func currentIs(root, id string) bool {
	target, err := os.Readlink(filepath.Join(root, currentName))
	return err == nil && target == id
}

// setCurrent points root/current at id by renaming a new symlink over the old one.
func setCurrent(root, id string) error {
	if currentIs(root, id) {
		return nil
	}
	tmp := filepath.Join(root, "."+currentName+".tmp")
	os.Remove(tmp)
	if err := os.Symlink(id, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(root, currentName)); err != nil {
		return err
	}
	return syncDir(root)
}

// lock takes an exclusive flock on path, waiting for other holders.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func writeFileSync(path string, b []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return err
	}
	return finish(f, mode)
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
