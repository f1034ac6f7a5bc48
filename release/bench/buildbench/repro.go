package buildbench

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/distro-io/distro/release/build"
	"github.com/distro-io/distro/release/steps/checksums"
)

// Repro is the outcome of two links of the same sources.
type Repro struct {
	Paths [2]string
	Sums  [2]string // hex sha256
	Times [2]Result
	Same  bool
	// FirstDiff is the offset of the first differing byte, -1 when the files are equal.
	FirstDiff int64
}

// Reproducible builds opts twice, into dir/a and dir/b, and compares the two files. Both
// builds share the build cache, so it is the link (and what it stamps) that is compared.
func Reproducible(ctx context.Context, opts build.Options, dir string) (Repro, error) {
	var r Repro
	for i, sub := range []string{"a", "b"} {
		o := opts
		o.Output = filepath.Join(dir, sub, filepath.Base(opts.Output))
		if err := os.MkdirAll(filepath.Dir(o.Output), 0o755); err != nil {
			return r, err
		}
		res, err := Timed(ctx, o)
		if err != nil {
			return r, err
		}
		r.Paths[i], r.Times[i] = o.Output, res
		if r.Sums[i], err = checksums.SHA256File(o.Output); err != nil {
			return r, err
		}
	}
	var err error
	r.FirstDiff, err = FirstDiff(r.Paths[0], r.Paths[1])
	r.Same = r.FirstDiff < 0 && r.Sums[0] == r.Sums[1]
	return r, err
}

// FirstDiff returns the offset of the first byte where two files differ (a shorter file
// differs at its end), or -1 when they are equal: where to start looking when a build is
// not reproducible.
func FirstDiff(a, b string) (int64, error) {
	fa, err := os.Open(a)
	if err != nil {
		return 0, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return 0, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		n := min(na, nb)
		if i := mismatch(ba[:n], bb[:n]); i >= 0 {
			return off + int64(i), nil
		}
		if na != nb {
			return off + int64(n), nil
		}
		off += int64(n)
		if ea != nil || eb != nil {
			if ea == io.EOF || ea == io.ErrUnexpectedEOF {
				ea = nil
			}
			if eb == io.EOF || eb == io.ErrUnexpectedEOF {
				eb = nil
			}
			if ea != nil {
				return 0, ea
			}
			return -1, eb
		}
	}
}

func mismatch(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
