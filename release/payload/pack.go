package payload

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/distro-io/distro/distro/payload"
	"github.com/distro-io/distro/distro/version"
)

// Compression chooses how the archive is compressed.
type Compression struct {
	Level zstd.EncoderLevel
	// Window is the encoder's window in bytes (a power of two); the launcher needs that much
	// memory to unpack.
	Window int
	// Command, when set, compresses with an external zstd command instead, which reads the tar
	// on stdin and writes to stdout. Its output must be a zstd stream with a window of at most
	// 512 MiB, the most the launcher accepts.
	Command []string
}

// String names the settings, for logs.
func (c Compression) String() string {
	if len(c.Command) > 0 {
		return strings.Join(c.Command, " ")
	}
	return fmt.Sprintf("zstd %s, %d MiB window", c.Level, c.Window>>20)
}

// writer returns the compressing writer; Close flushes it and, for a command, waits for it.
func (c Compression) writer(ctx context.Context, w io.Writer) (io.WriteCloser, error) {
	if len(c.Command) == 0 {
		zw, err := zstd.NewWriter(w,
			zstd.WithEncoderLevel(c.Level),
			zstd.WithWindowSize(c.Window),
			// One goroutine keeps the output independent of the machine's core count.
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(true))
		if err != nil {
			return nil, fmt.Errorf("compression settings: %w", err)
		}
		return zw, nil
	}
	cmd := exec.CommandContext(ctx, c.Command[0], c.Command[1:]...)
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("compressor: %w", err)
	}
	return &commandWriter{WriteCloser: in, cmd: cmd, stderr: &stderr}, nil
}

// ReleaseCompression compresses with Debian's zstd command at level 19 and a 128 MiB window:
// about 13% smaller than DefaultCompression for many times the packing time. With a 192 MiB
// distro binary, runc and the CNI plugins the whole download is 51.0 MiB against 58.6 MiB,
// packed in 3m13s against about 25s (one core), unpacked on first start in about 1.2 s. The output depends on zstd's version (Debian 12: 1.5.4)
// but not on its thread count.
var ReleaseCompression = Compression{Command: []string{"zstd", "-19", "--long=27", "-T0", "-q", "-c"}}

type commandWriter struct {
	io.WriteCloser
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// Write reports why the compressor went away rather than the broken pipe it left.
func (c *commandWriter) Write(p []byte) (int, error) {
	n, err := c.WriteCloser.Write(p)
	if err != nil {
		if werr := c.wait(); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (c *commandWriter) Close() error {
	if err := c.WriteCloser.Close(); err != nil {
		return err
	}
	return c.wait()
}

func (c *commandWriter) wait() error {
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("compressor %s: %w: %s", strings.Join(c.cmd.Args, " "), err, strings.TrimSpace(c.stderr.String()))
	}
	return nil
}

// DefaultCompression is what releases use. Measured on a 121 MiB stripped Go binary: the best
// level gives 26.4 MiB with the default 8 MiB window, 26.2 MiB with 32 MiB and 26.1 MiB with
// 128 MiB (default level: 29.8 MiB); unpacking takes about 0.6 s at the best level either way.
// A 32 MiB window keeps runc and the CNI plugins within reach of each other at a modest
// memory cost when unpacking.
var DefaultCompression = Compression{Level: zstd.SpeedBestCompression, Window: 32 << 20}

// executableMode is the mode every packed file gets, whatever it has on the build machine.
const executableMode = 0o755

// Assemble writes out: the launcher with an archive of files (name in bin/ → path on disk)
// appended, compressed with DefaultCompression. files must hold the real binary under
// version.Program, which the launcher executes.
func Assemble(launcherPath string, files map[string]string, out string) error {
	return AssembleWith(launcherPath, files, out, DefaultCompression)
}

// AssembleWith is Assemble with a chosen compression. out is replaced atomically.
func AssembleWith(launcherPath string, files map[string]string, out string, c Compression) (err error) {
	if _, ok := files[version.Program]; !ok {
		return fmt.Errorf("payload has no %q: the launcher would have nothing to run", version.Program)
	}
	launcher, err := os.Open(launcherPath)
	if err != nil {
		return err
	}
	defer launcher.Close()
	if _, err := payload.Open(launcherPath); !errors.Is(err, payload.ErrNoPayload) {
		return fmt.Errorf("%s is not a launcher without payload: %v", launcherPath, err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	offset, err := io.Copy(tmp, launcher)
	if err != nil {
		return fmt.Errorf("copying launcher: %w", err)
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	footer, err := Pack(bw, files, c)
	if err != nil {
		return err
	}
	footer.Offset = uint64(offset)
	fb, err := footer.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := bw.Write(fb); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// Pack writes the manifest and then the compressed archive of files to w and returns the
// footer describing them, with Offset left for the caller to set. The archive is
// deterministic: a fixed order (archiveOrder), zero times and owners, fixed modes.
func Pack(w io.Writer, files map[string]string, c Compression) (payload.Footer, error) {
	var footer payload.Footer
	m, err := manifestOf(files)
	if err != nil {
		return footer, err
	}
	mb, err := payload.MarshalManifest(m)
	if err != nil {
		return footer, err
	}
	if _, err := w.Write(mb); err != nil {
		return footer, err
	}
	footer.ManifestSum = sha256.Sum256(mb)
	footer.ManifestLen = uint32(len(mb))
	footer.FormatVersion = payload.FormatVersion

	cw := &countingHash{w: w, h: sha256.New()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops an external compressor when packing fails half way
	zw, err := c.writer(ctx, cw)
	if err != nil {
		return footer, err
	}
	tw := tar.NewWriter(zw)
	if err := writeEntry(tw, payload.ManifestName, 0o644, int64(len(mb)), bytes.NewReader(mb), ""); err != nil {
		return footer, err
	}
	for _, f := range archiveOrder(m.Files) {
		if err := writeFile(tw, f, files[f.Name]); err != nil {
			return footer, err
		}
	}
	if err := tw.Close(); err != nil {
		return footer, err
	}
	if err := zw.Close(); err != nil {
		return footer, err
	}
	copy(footer.ArchiveSum[:], cw.h.Sum(nil))
	footer.ArchiveLen = uint64(cw.n)
	return footer, nil
}

// archiveOrder puts the small executables first, by name, and the real binary last: runc and
// the CNI plugins share most of their code, which the compressor only finds when they lie
// within one window of each other (7.2 MiB together against 13.5 MiB apart).
func archiveOrder(files []payload.File) []payload.File {
	order := slices.Clone(files)
	slices.SortStableFunc(order, func(a, b payload.File) int {
		return compareBool(a.Name == version.Program, b.Name == version.Program)
	})
	return order
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func manifestOf(files map[string]string) (payload.Manifest, error) {
	var m payload.Manifest
	for name, path := range files {
		if err := payload.ValidName(name); err != nil {
			return m, err
		}
		st, err := os.Stat(path)
		if err != nil {
			return m, err
		}
		if !st.Mode().IsRegular() {
			return m, fmt.Errorf("%s (%s): not a regular file", name, path)
		}
		sum, size, err := hashFile(path)
		if err != nil {
			return m, err
		}
		m.Files = append(m.Files, payload.File{Name: name, Size: size, SHA256: sum, Mode: executableMode})
	}
	slices.SortFunc(m.Files, func(a, b payload.File) int { return strings.Compare(a.Name, b.Name) })
	return m, nil
}

// writeFile adds one executable, failing if it changed since the manifest was made.
func writeFile(tw *tar.Writer, f payload.File, path string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeEntry(tw, payload.BinSubdir+"/"+f.Name, f.Mode, f.Size, in, f.SHA256)
}

func writeEntry(tw *tar.Writer, name string, mode os.FileMode, size int64, r io.Reader, wantSum string) error {
	err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     int64(mode),
		Size:     size,
		ModTime:  time.Unix(0, 0),
		Format:   tar.FormatUSTAR,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	h := sha256.New()
	if n, err := io.Copy(io.MultiWriter(tw, h), r); err != nil || n != size {
		return fmt.Errorf("%s: changed while packing (%d of %d bytes): %v", name, n, size, err)
	}
	if wantSum != "" && hex.EncodeToString(h.Sum(nil)) != wantSum {
		return fmt.Errorf("%s: changed while packing", name)
	}
	return nil
}

func hashFile(path string) (sum string, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	size, err = io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// countingHash passes writes through while hashing and counting them.
type countingHash struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}
