package images

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/mod/sumdb/dirhash"

	distroimages "github.com/distro-io/distro/distro/images"
	"github.com/distro-io/distro/distro/version"
)

// CoreDNSModule is the module upstream.lock pins CoreDNS by.
const CoreDNSModule = "github.com/coredns/coredns"

// coreDNSUser is the image's user and group: numeric, so the kubelet can verify runAsNonRoot.
var coreDNSUser = fmt.Sprintf("%d:%d", distroimages.CoreDNSUID, distroimages.CoreDNSUID)

// CoreDNSOptions are the inputs of the CoreDNS build.
type CoreDNSOptions struct {
	// Dir holds the github.com/coredns/coredns module source (see ModuleDir); the build reads
	// it in place and writes nothing there.
	Dir string
	// Version is the module version, v<distro/images.CoreDNSVersion>.
	Version string
	// Sum, when set, is the h1: hash the source in Dir must have.
	Sum string
	// CacheDir keeps compiled binaries by a hash of their inputs; empty means
	// $HOME/.cache/<program>/images.
	CacheDir string
	// Go is the go command; "go" from PATH when empty.
	Go string
}

// coreVersion reads `CoreVersion = "X.Y.Z"` from coremain/version.go.
var coreVersion = regexp.MustCompile(`(?m)^\s*CoreVersion\s*=\s*"([^"]+)"`)

// coreDNSEnv is the environment of the build, added to distro's: a static linux/amd64 binary
// whose dependencies are exactly those CoreDNS's own go.mod and go.sum pin (readonly: the go
// command may download them, never change the requirements), outside any workspace.
var coreDNSEnv = []string{
	"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOEXPERIMENT=",
	"GOFLAGS=-mod=readonly", "GOWORK=off", "GO111MODULE=on",
}

// coreDNSArgs are upstream's Makefile build flags (grpcnotrace, -s -w, the commit stamp) plus
// what makes the binary independent of where and when it was built.
func coreDNSArgs(moduleVersion string) []string {
	// Upstream stamps `git describe` of its checkout; a module has no git, its version names
	// the same source.
	ldflags := "-s -w -X github.com/coredns/coredns/coremain.GitCommit=" + moduleVersion
	return []string{"build", "-trimpath", "-buildvcs=false", "-tags=grpcnotrace", "-ldflags=" + ldflags}
}

// CoreDNS builds the CoreDNS image from its module source: the static binary alone in a
// scratch image, run as /coredns by user distro/images.CoreDNSUID and able to bind port 53
// without root, as upstream's image is.
func CoreDNS(ctx context.Context, opts CoreDNSOptions) (Named, error) {
	bin, err := CoreDNSBinary(ctx, opts)
	if err != nil {
		return Named{}, err
	}
	img, err := SingleFileImage("coredns", bin, map[string]string{
		// Upstream's image runs `setcap cap_net_bind_service=+ep` on the binary; containerd
		// sets the xattr when it unpacks the layer.
		paxXattr + "security.capability": string(fileCapability(capNetBindService)),
	}, v1.Config{
		Entrypoint:   []string{"/coredns"},
		User:         coreDNSUser,
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{"53/tcp": {}, "53/udp": {}},
	})
	if err != nil {
		return Named{}, fmt.Errorf("coredns image: %w", err)
	}
	return Named{Ref: distroimages.CoreDNS, Image: img}, nil
}

// CoreDNSBinary returns the static CoreDNS executable, compiling it unless the cache holds one
// built from the same inputs.
func CoreDNSBinary(ctx context.Context, opts CoreDNSOptions) ([]byte, error) {
	if opts.Dir == "" || opts.Version == "" {
		return nil, errors.New("coredns build: no source dir or version")
	}
	if want := "v" + distroimages.CoreDNSVersion; opts.Version != want {
		return nil, fmt.Errorf("upstream.lock pins %s %s but distro/images.CoreDNSVersion is %s: change both together", CoreDNSModule, opts.Version, distroimages.CoreDNSVersion)
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	src, err := os.ReadFile(filepath.Join(opts.Dir, "coremain", "version.go"))
	if err != nil {
		return nil, err
	}
	m := coreVersion.FindSubmatch(src)
	if m == nil {
		return nil, fmt.Errorf("%s/coremain/version.go: no CoreVersion: upstream changed how it versions CoreDNS", opts.Dir)
	}
	if v := string(m[1]); v != distroimages.CoreDNSVersion {
		return nil, fmt.Errorf("the source in %s is CoreDNS %s, not %s", opts.Dir, v, distroimages.CoreDNSVersion)
	}

	key, err := coreDNSKey(ctx, opts)
	if err != nil {
		return nil, err
	}
	cacheDir, err := cacheDir(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	cached := filepath.Join(cacheDir, "coredns-"+key)
	if b, err := os.ReadFile(cached); err == nil {
		return b, nil
	}
	tmp, err := os.MkdirTemp("", version.Program+"-coredns-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "coredns")
	args := append(coreDNSArgs(opts.Version), "-o", out, ".")
	if _, err := runEnv(ctx, opts.Dir, coreDNSEnv, opts.Go, args...); err != nil {
		return nil, fmt.Errorf("building CoreDNS: %w", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	return b, writeAtomic(cached, b, 0o755)
}

// coreDNSKey hashes everything that decides the binary's bytes: the source tree (which holds
// the go.sum pinning every dependency), the toolchain and the build's settings.
func coreDNSKey(ctx context.Context, opts CoreDNSOptions) (string, error) {
	tree, err := dirhash.HashDir(opts.Dir, CoreDNSModule+"@"+opts.Version, dirhash.Hash1)
	if err != nil {
		return "", fmt.Errorf("hashing the CoreDNS source: %w", err)
	}
	if opts.Sum != "" && tree != opts.Sum {
		return "", fmt.Errorf("the CoreDNS source in %s hashes to %s, upstream.lock says %s: the module cache was modified (go clean -modcache removes it)", opts.Dir, tree, opts.Sum)
	}
	// Asked in the source dir with the build's environment, so a toolchain switch that
	// go.mod or GOTOOLCHAIN asks for is the one recorded.
	goEnv, err := runEnv(ctx, opts.Dir, coreDNSEnv, opts.Go, "env", "-json",
		"GOVERSION", "GOOS", "GOARCH", "GOAMD64", "CGO_ENABLED", "GOEXPERIMENT", "GOFLAGS")
	if err != nil {
		return "", fmt.Errorf("go toolchain for CoreDNS: %w", err)
	}
	j, err := json.Marshal(map[string]any{
		"format": cacheFormat, "source": tree, "go": json.RawMessage(goEnv), "args": coreDNSArgs(opts.Version),
	})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(j)
	return hex.EncodeToString(sum[:8]), nil
}

// paxXattr prefixes an extended attribute in a tar entry's PAX records.
const paxXattr = "SCHILY.xattr."

// capNetBindService is CAP_NET_BIND_SERVICE's number (linux/capability.h).
const capNetBindService = 10

// fileCapability returns the security.capability value that makes the given capabilities
// permitted and effective when the file is executed: the kernel's struct vfs_cap_data,
// revision 2 (what setcap writes outside a user namespace), little-endian.
func fileCapability(caps ...uint) []byte {
	const revision2, effective = 0x02000000, 0x000001
	var permitted [2]uint32
	for _, c := range caps {
		permitted[c/32] |= 1 << (c % 32)
	}
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], revision2|effective)
	binary.LittleEndian.PutUint32(b[4:], permitted[0]) // inheritable stays 0 (b[8:12])
	binary.LittleEndian.PutUint32(b[12:], permitted[1])
	return b
}
