package images_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	distroimages "github.com/distro-io/distro/distro/images"
	"github.com/distro-io/distro/release/images"
	"github.com/distro-io/distro/release/upstream"
)

// needGo skips a test when there is no Go toolchain to build CoreDNS with.
func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH: CoreDNS is built with the Go toolchain")
	}
}

func coreDNSOptions(t *testing.T, cacheDir string) images.CoreDNSOptions {
	t.Helper()
	m, ok := lock(t).Find(images.CoreDNSModule)
	if !ok || m.Role != upstream.RoleImage {
		t.Fatalf("upstream.lock has no %s with role image: %+v", images.CoreDNSModule, m)
	}
	dir, err := images.ModuleDir(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return images.CoreDNSOptions{Dir: dir, Version: m.Version, Sum: m.Sum, CacheDir: cacheDir}
}

func TestCoreDNSImage(t *testing.T) {
	needGo(t)
	ctx := context.Background()
	cache := t.TempDir()
	opts := coreDNSOptions(t, cache)
	start := time.Now()
	coredns, err := images.CoreDNS(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CoreDNS image built in %s", time.Since(start).Round(time.Second))
	archive := filepath.Join(t.TempDir(), "images.tar")
	if err := images.WriteArchiveFile(archive, []images.Named{coredns}); err != nil {
		t.Fatal(err)
	}

	// Loaded back by the name the Deployment asks for.
	tag, err := name.NewTag(distroimages.CoreDNS)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/coredns" {
		t.Errorf("entrypoint %q, want /coredns", got)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (numeric, so runAsNonRoot can be verified)", cf.Config.User)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	for _, p := range []string{"53/tcp", "53/udp"} {
		if _, ok := cf.Config.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, cf.Config.ExposedPorts)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	hdr, bin := entryInLayer(t, layers[0], "coredns")
	if size, err := layers[0].Size(); err == nil {
		t.Logf("binary %.1f MiB, compressed layer %.1f MiB", float64(len(bin))/(1<<20), float64(size)/(1<<20))
	}

	// Binding port 53 as user 65532 takes the file capability upstream's image sets.
	caps, effective := decodeFileCapability(t, []byte(hdr.PAXRecords["SCHILY.xattr.security.capability"]))
	if !slices.Equal(caps, []uint{unix.CAP_NET_BIND_SERVICE}) || !effective {
		t.Errorf("file capabilities %v (effective %v), want CAP_NET_BIND_SERVICE effective", caps, effective)
	}

	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("coredns has a %s program header: not static", p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("coredns has a symbol table: not stripped")
	}

	dir, err := os.MkdirTemp("", "coredns-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	exe := filepath.Join(dir, "coredns")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("coredns -version: %v: %s", err, out)
	}
	for _, want := range []string{"CoreDNS-" + distroimages.CoreDNSVersion + "\n", "linux/amd64, go", ", " + opts.Version + "\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("coredns -version printed %q, want %q in it", out, want)
		}
	}
	// Every plugin the cluster's Corefile uses is compiled in.
	out, err = exec.Command(exe, "-plugins").CombinedOutput()
	if err != nil {
		t.Fatalf("coredns -plugins: %v: %s", err, out)
	}
	plugins := strings.Fields(string(out))
	for _, p := range []string{"errors", "health", "ready", "kubernetes", "prometheus", "forward", "cache", "loop", "reload", "loadbalance"} {
		if !slices.Contains(plugins, p) {
			t.Errorf("plugin %s missing from coredns -plugins", p)
		}
	}

	t.Run("cached", func(t *testing.T) {
		start := time.Now()
		again, err := images.CoreDNSBinary(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, bin) {
			t.Error("the cached binary differs from the built one")
		}
		entries, err := os.ReadDir(cache)
		if err != nil || len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "coredns-") {
			t.Errorf("cache holds %v (%v), want one coredns binary", entries, err)
		}
		t.Logf("from the cache in %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("serves port 53 as user 65532", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root: runs the binary as user 65532 with its file capability set")
		}
		if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err != nil || strings.TrimSpace(string(b)) == "0" {
			t.Skip("every port is unprivileged here, so binding 53 proves nothing")
		}
		servesAsNonRoot(t, dir, exe, []byte(hdr.PAXRecords["SCHILY.xattr.security.capability"]))
	})
}

// servesAsNonRoot gives exe the file capability from the image, runs it as 65532:65532
// answering on port 53 of a loopback address, and asks it one question.
func servesAsNonRoot(t *testing.T, dir, exe string, capability []byte) {
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(exe, "security.capability", capability, 0); err != nil {
		t.Skipf("cannot set security.capability here: %v", err)
	}
	addr := fmt.Sprintf("127.0.%d.%d", 100+os.Getpid()%100, 1+os.Getpid()%250)
	corefile := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(corefile, []byte(".:53 {\n    bind "+addr+"\n    whoami\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-conf", corefile)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532, NoSetGroups: true}}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	query := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 6, 'w', 'h', 'o', 'a', 'm', 'i', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("coredns exited: %v\n%s", err, logs.String())
		default:
		}
		if answer, err := ask(net.JoinHostPort(addr, "53"), query); err == nil {
			if len(answer) < 12 || answer[0] != 0x12 || answer[1] != 0x34 || answer[2]&0x80 == 0 || answer[3]&0x0f != 0 {
				t.Fatalf("answer %x is not a successful response to the query", answer)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer on %s:53 from coredns running as 65532:\n%s", addr, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ask(addr string, query []byte) ([]byte, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	return buf[:n], err
}

// decodeFileCapability reads a revision 2 struct vfs_cap_data (linux/capability.h): a magic
// word holding the effective flag, then permitted and inheritable words for capabilities 0-31
// and 32-63.
func decodeFileCapability(t *testing.T, v []byte) (permitted []uint, effective bool) {
	t.Helper()
	const revisionMask, revision2, flagEffective = 0xff000000, 0x02000000, 0x000001
	if len(v) != 20 || binary.LittleEndian.Uint32(v)&revisionMask != revision2 {
		t.Fatalf("security.capability %x is not a revision 2 file capability", v)
	}
	for i, off := range []int{4, 12} {
		word := binary.LittleEndian.Uint32(v[off:])
		for bit := range uint(32) {
			if word&(1<<bit) != 0 {
				permitted = append(permitted, uint(i)*32+bit)
			}
		}
	}
	if binary.LittleEndian.Uint32(v[8:]) != 0 || binary.LittleEndian.Uint32(v[16:]) != 0 {
		t.Errorf("security.capability %x has inheritable capabilities", v)
	}
	return permitted, binary.LittleEndian.Uint32(v)&flagEffective != 0
}

// entryInLayer returns the header and content of the one regular file the layer must hold.
func entryInLayer(t *testing.T, l interface {
	Uncompressed() (io.ReadCloser, error)
}, want string) (*tar.Header, []byte) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var hdr *tar.Header
	var content []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != want || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
			t.Fatalf("layer holds %s (mode %o, type %c), want only the executable %s", h.Name, h.Mode, h.Typeflag, want)
		}
		hdr = h
		if content, err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	if hdr == nil {
		t.Fatalf("layer holds no %s", want)
	}
	return hdr, content
}

// A lock, or a source, naming another CoreDNS than distro/images does is refused, rather than
// shipping an image under the wrong tag.
func TestCoreDNSVersionMismatchIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "coremain"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "coremain", "version.go"), []byte("package coremain\n\nconst (\n\tCoreVersion = \"9.9.9\"\n)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for version, want := range map[string]string{
		"v1.14.0":                         "upstream.lock pins github.com/coredns/coredns v1.14.0",
		"v" + distroimages.CoreDNSVersion: "is CoreDNS 9.9.9",
	} {
		_, err := images.CoreDNSBinary(context.Background(), images.CoreDNSOptions{Dir: dir, Version: version, CacheDir: t.TempDir(), Go: "false"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("version %s: got %v, want a refusal containing %q", version, err, want)
		}
	}
}
