package registry_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	agent "github.com/distro-io/distro/distro/agent/containerd"
	"github.com/distro-io/distro/distro/agent/registry"
	"github.com/distro-io/distro/distro/payload"
)

// The test images live under a registry name that never resolves (.test is reserved): what
// pulls, pulls from the mirror.
const (
	tinyImage  = "distro.test/tiny:1"  // an index with one linux manifest, as multi-arch images are
	otherImage = "distro.test/other:1" // a plain manifest, of another repository
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// payloadBin unpacks the payload of the binary under test once (runc, the shim, the distro
// executable that runs as containerd).
func payloadBin(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: containerd mounts snapshots and owns its sockets")
	}
	bin := os.Getenv("DISTRO_BINARY")
	if bin == "" {
		t.Skip("DISTRO_BINARY is not set: `go tool mage test` builds dist/distro and sets it")
	}
	binOnce.Do(func() {
		var dir string
		if dir, binErr = os.MkdirTemp("", "distro-registry-payload-"); binErr != nil {
			return
		}
		var p *payload.Payload
		if p, binErr = payload.Open(bin); binErr != nil {
			return
		}
		var r payload.Result
		r, binErr = p.Ensure(dir)
		binDir = r.BinDir
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(filepath.Dir(filepath.Dir(filepath.Dir(binDir)))) // <tmp>/data/<id>/bin
	}
	os.Exit(code)
}

// node is a running containerd that imported the test archive, and its mirror.
type node struct {
	ctr    *agent.Component
	cfg    agent.Config
	mirror *registry.Mirror
	client *containerd.Client
}

func startNode(t *testing.T) *node {
	t.Helper()
	bin := payloadBin(t)
	dataDir := t.TempDir()
	imagesDir := filepath.Join(dataDir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeArchive(t, filepath.Join(imagesDir, "test.tar"))
	address := freeAddress(t)
	cfg, err := agent.Options{DataDir: dataDir, BinDir: bin, Executable: filepath.Join(bin, "distro"), RegistryMirror: address}.Complete()
	if err != nil {
		t.Fatal(err)
	}
	ctr := agent.New(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ctr.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ctr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ctr.Terminate(context.Background()); err != nil {
			t.Errorf("terminate containerd: %v", err)
		}
	})
	for {
		err := ctr.Ready(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			log, _ := os.ReadFile(cfg.LogFile)
			t.Fatalf("containerd not ready: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mirror, err := registry.New(registry.Config{Address: address, Socket: ctr.Socket(), Served: ctr.ArchivedImages})
	if err != nil {
		t.Fatal(err)
	}
	if err := mirror.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mirror.Stop(context.Background()); err != nil {
			t.Errorf("stop the mirror: %v", err)
		}
	})
	client, err := containerd.New(ctr.Socket())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &node{ctr: ctr, cfg: cfg, mirror: mirror, client: client}
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeArchive writes an OCI layout tar, as airgap archives are, holding tinyImage and
// otherImage: small images of random layers, for this machine's platform.
func writeArchive(t *testing.T, path string) {
	t.Helper()
	tiny := randomImage(t, 2)
	tinyIndex := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add:        tiny,
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}},
	})
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(tinyIndex, layout.WithAnnotations(nameAnnotations(tinyImage))); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(randomImage(t, 1), layout.WithAnnotations(nameAnnotations(otherImage))); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil || file == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, file)
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func nameAnnotations(ref string) map[string]string {
	_, tag, _ := strings.Cut(ref, ":")
	return map[string]string{images.AnnotationImageName: ref, ocispec.AnnotationRefName: tag}
}

// randomImage is an OCI image of random gzip layers whose config names this machine's
// platform, so containerd unpacks it at import.
func randomImage(t *testing.T, layers int) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for range layers {
		l, err := random.Layer(4096, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// get asks the mirror; the body is read whole (test blobs are small).
func (n *node) get(t *testing.T, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.mirror.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// wantContent checks a 200 answer carrying desc's content (or, for HEAD, its headers alone).
func wantContent(t *testing.T, resp *http.Response, body []byte, desc ocispec.Descriptor, contentType string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", resp.Request.Method, resp.Request.URL, resp.Status, body)
	}
	h := resp.Header
	if h.Get("Content-Type") != contentType || h.Get("Docker-Content-Digest") != desc.Digest.String() || h.Get("Content-Length") != fmt.Sprint(desc.Size) {
		t.Errorf("%s %s: Content-Type %q, Docker-Content-Digest %q, Content-Length %q; want %q, %s, %d",
			resp.Request.Method, resp.Request.URL, h.Get("Content-Type"), h.Get("Docker-Content-Digest"), h.Get("Content-Length"), contentType, desc.Digest, desc.Size)
	}
	if resp.Request.Method == http.MethodHead {
		if len(body) != 0 {
			t.Errorf("HEAD %s has a body", resp.Request.URL)
		}
		return
	}
	if got := digest.FromBytes(body); got != desc.Digest {
		t.Errorf("GET %s: body digest %s, want %s", resp.Request.URL, got, desc.Digest)
	}
}

// wantError checks an OCI error answer: the status and one error of the code, with a message.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s %s: %s, want %d: %s", resp.Request.Method, resp.Request.URL, resp.Status, status, body)
		return
	}
	var answer struct {
		Errors []struct{ Code, Message string }
	}
	err := json.Unmarshal(body, &answer)
	if err != nil || resp.Header.Get("Content-Type") != "application/json" || len(answer.Errors) != 1 || answer.Errors[0].Code != code || answer.Errors[0].Message == "" {
		t.Errorf("%s %s: error %s (%v), want one %s with a message", resp.Request.Method, resp.Request.URL, body, err, code)
	}
}

// contents reads the index of tinyImage and its manifest from the node's content store.
func (n *node) contents(t *testing.T, ctx context.Context) (index ocispec.Descriptor, manifest ocispec.Descriptor, m ocispec.Manifest) {
	t.Helper()
	img, err := n.client.ImageService().Get(ctx, tinyImage)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	readJSON(t, ctx, n.client.ContentStore(), img.Target, &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("index of %d manifests", len(idx.Manifests))
	}
	readJSON(t, ctx, n.client.ContentStore(), idx.Manifests[0], &m)
	return img.Target, idx.Manifests[0], m
}

func readJSON(t *testing.T, ctx context.Context, p content.Provider, desc ocispec.Descriptor, v any) {
	t.Helper()
	data, err := content.ReadBlob(ctx, p, desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func TestMirrorServesTheImportedImages(t *testing.T) {
	n := startNode(t)
	ctx := namespaces.WithNamespace(context.Background(), agent.Namespace)
	if got := n.ctr.ArchivedImages(); len(got) != 2 {
		t.Fatalf("archived images %v, want %s and %s", got, tinyImage, otherImage)
	}
	index, manifest, m := n.contents(t, ctx)
	if index.MediaType != ocispec.MediaTypeImageIndex || manifest.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("imported media types %s, %s", index.MediaType, manifest.MediaType)
	}

	resp, body := n.get(t, http.MethodGet, "/v2/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Errorf("GET /v2/: %s %v: %s", resp.Status, resp.Header, body)
	}

	const tiny = "/v2/tiny/"
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp, body := n.get(t, method, tiny+"manifests/1?ns=distro.test")
		wantContent(t, resp, body, index, ocispec.MediaTypeImageIndex)
		resp, body = n.get(t, method, tiny+"manifests/"+index.Digest.String()+"?ns=distro.test")
		wantContent(t, resp, body, index, ocispec.MediaTypeImageIndex)
		resp, body = n.get(t, method, tiny+"manifests/"+manifest.Digest.String()+"?ns=distro.test")
		wantContent(t, resp, body, manifest, ocispec.MediaTypeImageManifest)
		for _, blob := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			resp, body := n.get(t, method, tiny+"blobs/"+blob.Digest.String()+"?ns=distro.test")
			wantContent(t, resp, body, blob, "application/octet-stream")
		}
	}
	// A resumed download asks for the rest of a blob.
	layer := m.Layers[0]
	resp, body = n.get(t, http.MethodGet, tiny+"blobs/"+layer.Digest.String()+"?ns=distro.test", "Range", "bytes=100-")
	whole, err := content.ReadBlob(ctx, n.client.ContentStore(), layer)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusPartialContent || string(body) != string(whole[100:]) {
		t.Errorf("range request: %s, %d bytes, want 206 and %d", resp.Status, len(body), len(whole)-100)
	}

	// What is not held here is unknown; so is what is held but did not come from the archives
	// (tiny:copy, pulled:1), and what belongs to another repository.
	other, err := n.client.ImageService().Get(ctx, otherImage)
	if err != nil {
		t.Fatal(err)
	}
	var otherManifest ocispec.Manifest
	readJSON(t, ctx, n.client.ContentStore(), other.Target, &otherManifest)
	copied := images.Image{Name: "distro.test/tiny:copy", Target: index}
	if _, err := n.client.ImageService().Create(ctx, copied); err != nil {
		t.Fatal(err)
	}
	pulled := images.Image{Name: "distro.test/pulled:1", Target: index}
	if _, err := n.client.ImageService().Create(ctx, pulled); err != nil {
		t.Fatal(err)
	}
	unknown := digest.FromString("not held").String()
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{tiny + "manifests/2?ns=distro.test", http.StatusNotFound, "MANIFEST_UNKNOWN"},
		{tiny + "manifests/copy?ns=distro.test", http.StatusNotFound, "MANIFEST_UNKNOWN"},
		{tiny + "manifests/" + unknown + "?ns=distro.test", http.StatusNotFound, "MANIFEST_UNKNOWN"},
		{tiny + "manifests/" + layer.Digest.String() + "?ns=distro.test", http.StatusNotFound, "MANIFEST_UNKNOWN"},
		{tiny + "blobs/" + unknown + "?ns=distro.test", http.StatusNotFound, "BLOB_UNKNOWN"},
		{tiny + "blobs/" + otherManifest.Layers[0].Digest.String() + "?ns=distro.test", http.StatusNotFound, "BLOB_UNKNOWN"},
		{"/v2/other/blobs/" + otherManifest.Layers[0].Digest.String() + "?ns=elsewhere.test", http.StatusNotFound, "NAME_UNKNOWN"},
		{"/v2/missing/manifests/1?ns=distro.test", http.StatusNotFound, "NAME_UNKNOWN"},
		{"/v2/pulled/manifests/1?ns=distro.test", http.StatusNotFound, "NAME_UNKNOWN"},
		{tiny + "manifests/1", http.StatusNotFound, "NAME_UNKNOWN"}, // no ns: this host's own
		{tiny + "blobs/sha256:nothex?ns=distro.test", http.StatusBadRequest, "DIGEST_INVALID"},
		{"/v2/Tiny/manifests/1?ns=distro.test", http.StatusBadRequest, "NAME_INVALID"},
		{"/v2/tiny/manifests/1?ns=library", http.StatusBadRequest, "NAME_INVALID"},
		{"/v2/tiny/tags/list?ns=distro.test", http.StatusNotFound, "UNSUPPORTED"},
	} {
		resp, body := n.get(t, http.MethodGet, c.path)
		wantError(t, resp, body, c.status, c.code)
	}
	// An archive's image replaced since (pulled anew from its registry) is no longer served.
	resp, body = n.get(t, http.MethodGet, "/v2/other/manifests/1?ns=distro.test")
	wantContent(t, resp, body, other.Target, other.Target.MediaType)
	if _, err := n.client.ImageService().Update(ctx, images.Image{Name: otherImage, Target: index}, "target"); err != nil {
		t.Fatal(err)
	}
	resp, body = n.get(t, http.MethodGet, "/v2/other/manifests/1?ns=distro.test")
	wantError(t, resp, body, http.StatusNotFound, "NAME_UNKNOWN")

	for _, c := range []struct{ method, path string }{
		{http.MethodPut, tiny + "manifests/1?ns=distro.test"},
		{http.MethodDelete, tiny + "manifests/" + index.Digest.String() + "?ns=distro.test"},
		{http.MethodPost, tiny + "blobs/uploads/?ns=distro.test"},
	} {
		resp, body := n.get(t, c.method, c.path)
		wantError(t, resp, body, http.StatusMethodNotAllowed, "UNSUPPORTED")
		if resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", c.method, c.path, resp.Header.Get("Allow"))
		}
	}
}

// containerd's own resolver, configured from the hosts dir the node writes, resolves and
// fetches the imported image through the mirror alone; then CRI, as the kubelet asks with
// imagePullPolicy Always, pulls it with the node's containerd config. No registry is
// reachable: distro.test does not resolve.
func TestContainerdPullsThroughTheMirror(t *testing.T) {
	n := startNode(t)
	ctx := namespaces.WithNamespace(context.Background(), agent.Namespace)
	index, _, m := n.contents(t, ctx)

	var mu sync.Mutex
	var asked []*url.URL
	hosts := config.ConfigureHosts(ctx, config.HostOptions{
		HostDir: config.HostDirFromRoot(n.cfg.HostsDir),
		UpdateClient: func(c *http.Client) error {
			next := c.Transport
			c.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				asked = append(asked, r.URL)
				mu.Unlock()
				return next.RoundTrip(r)
			})
			return nil
		},
	})
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: hosts})
	name, desc, err := resolver.Resolve(ctx, tinyImage)
	if err != nil {
		t.Fatalf("resolve %s: %v", tinyImage, err)
	}
	if name != tinyImage || desc.Digest != index.Digest || desc.MediaType != index.MediaType || desc.Size != index.Size {
		t.Errorf("resolved %s to %+v, want %+v", name, desc, index)
	}
	fetcher, err := resolver.Fetcher(ctx, tinyImage)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := fetcher.Fetch(ctx, m.Layers[1])
	if err != nil {
		t.Fatalf("fetch a layer: %v", err)
	}
	got, err := digest.FromReader(rc)
	rc.Close()
	if err != nil || got != m.Layers[1].Digest {
		t.Errorf("fetched layer digest %s, %v; want %s", got, err, m.Layers[1].Digest)
	}
	img, err := n.client.Pull(ctx, tinyImage, containerd.WithResolver(resolver), containerd.WithPullUnpack, containerd.WithPullSnapshotter(n.ctr.Settings().Snapshotter))
	if err != nil {
		t.Fatalf("pull %s: %v", tinyImage, err)
	}
	if img.Target().Digest != index.Digest {
		t.Errorf("pulled %s, want %s", img.Target().Digest, index.Digest)
	}
	mu.Lock()
	for _, u := range asked {
		if "http://"+u.Host != n.mirror.URL() || !strings.HasPrefix(u.Path, "/v2/tiny/") || u.Query().Get("ns") != "distro.test" {
			t.Errorf("containerd asked %s, want the mirror with ns=distro.test", u)
		}
	}
	if len(asked) < 2 {
		t.Errorf("containerd asked the mirror %v, want a resolve and a fetch", asked)
	}
	t.Logf("containerd asked the mirror %v", asked)
	mu.Unlock()

	// CRI reads the same hosts dir through the config_path the node's config gives it. Twice:
	// the first pull rewrites the image record, which the mirror must still serve.
	conn := n.client.Conn().(*grpc.ClientConn)
	is := runtimeapi.NewImageServiceClient(conn)
	for i := range 2 {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		resp, err := is.PullImage(pctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: tinyImage}})
		cancel()
		if err != nil {
			t.Fatalf("CRI pull %d of %s: %v", i+1, tinyImage, err)
		}
		if resp.ImageRef != m.Config.Digest.String() {
			t.Errorf("CRI pulled image id %s, want the config digest %s", resp.ImageRef, m.Config.Digest)
		}
		// CRI's pull relabels the image without the pin; the node pins it again, or the
		// kubelet's image GC could remove an image no registry can give back.
		waitPinned(t, ctx, n.client, is, tinyImage)
	}

	// An image the node does not hold is pulled from its registry, after the mirror's 404; the
	// mirror does not serve it afterwards, so the next pull asks that registry again.
	upstream := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(upstream.Close)
	upstreamHost := strings.TrimPrefix(upstream.URL, "http://")
	pushImage(t, upstream.URL, "fallback", "1", randomImage(t, 1))
	fallback := upstreamHost + "/fallback:1"
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err = is.PullImage(pctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: fallback}})
	cancel()
	if err != nil {
		t.Fatalf("CRI pull of %s, held by its registry only: %v", fallback, err)
	}
	resp, body := n.get(t, http.MethodGet, "/v2/fallback/manifests/1?ns="+upstreamHost)
	wantError(t, resp, body, http.StatusNotFound, "NAME_UNKNOWN")

	// Without the mirror the same pull has nowhere to go.
	if err := n.mirror.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	pctx, cancel = context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = is.PullImage(pctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: tinyImage}})
	if err == nil {
		t.Fatal("CRI pulled with the mirror stopped: something else served it")
	}
	t.Logf("with the mirror stopped: %v", err)
}

// waitPinned waits until both containerd's record of ref and CRI's view of it say pinned.
func waitPinned(t *testing.T, ctx context.Context, client *containerd.Client, is runtimeapi.ImageServiceClient, ref string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		img, err := client.ImageService().Get(ctx, ref)
		label := img.Labels[agent.LabelPinned]
		status, serr := is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		if err == nil && serr == nil && label == "pinned" && status.Image != nil && status.Image.Pinned {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after a CRI pull: label %q (%v), CRI status %+v (%v); want pinned", ref, label, err, status.GetImage(), serr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pushImage uploads img to the registry at base as repo:tag, through the distribution API:
// each blob in one POST, then the manifest.
func pushImage(t *testing.T, base, repo, tag string, img v1.Image) {
	t.Helper()
	send := func(method, path, contentType string, body []byte) {
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			msg, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %s: %s", method, path, resp.Status, msg)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		send(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(data).String(), "application/octet-stream", data)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	send(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), "application/octet-stream", cfg)
	manifest, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	send(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, string(mt), manifest)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
