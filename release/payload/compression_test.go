package payload

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/distro-io/distro/distro/payload"
	"github.com/distro-io/distro/distro/version"
)

// TestCompressionSettings packs a real binary (DISTRO_PAYLOAD_SAMPLE, e.g. build/distro) with
// several settings and reports size, packing time and first-start unpack time, so that
// DefaultCompression can be chosen on numbers. Every result is unpacked and verified.
func TestCompressionSettings(t *testing.T) {
	sample := os.Getenv("DISTRO_PAYLOAD_SAMPLE")
	if sample == "" {
		t.Skip("set DISTRO_PAYLOAD_SAMPLE to a large executable to measure compression")
	}
	st, err := os.Stat(sample)
	if err != nil {
		t.Fatal(err)
	}
	launcher := filepath.Join(t.TempDir(), "launcher")
	in, _ := os.ReadFile("/bin/true")
	os.WriteFile(launcher, in, 0o755)
	t.Logf("sample %s: %.1f MiB", sample, mib(st.Size()))
	for _, c := range []Compression{
		{Level: zstd.SpeedDefault, Window: 8 << 20},
		{Level: zstd.SpeedBetterCompression, Window: 8 << 20},
		{Level: zstd.SpeedBestCompression, Window: 8 << 20},
		{Level: zstd.SpeedBestCompression, Window: 32 << 20},
		{Level: zstd.SpeedBestCompression, Window: 128 << 20},
		ReleaseCompression,
	} {
		name := c.String()
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "distro")
			start := time.Now()
			if err := AssembleWith(launcher, map[string]string{version.Program: sample}, out, c); err != nil {
				t.Fatal(err)
			}
			packTime := time.Since(start)
			ost, _ := os.Stat(out)

			p, err := payload.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			r, err := p.Ensure(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			unpackTime := time.Since(start)
			if err := payload.Verify(r.BinDir); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %6.1f MiB (%4.1f%%), pack %6.1fs, unpack %5.2fs",
				name, mib(ost.Size()), 100*float64(ost.Size())/float64(st.Size()),
				packTime.Seconds(), unpackTime.Seconds())
		})
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
