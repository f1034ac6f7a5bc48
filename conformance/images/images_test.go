package images

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distro-io/distro/conformance/binaries"
)

const manifestSample = `
type RegistryList struct {
	PromoterE2eRegistry      string ` + "`yaml:\"promoterE2eRegistry\"`" + `
	GcEtcdRegistry           string ` + "`yaml:\"gcEtcdRegistry\"`" + `
	GcRegistry               string ` + "`yaml:\"gcRegistry\"`" + `
}

var (
	initRegistry = RegistryList{
		PromoterE2eRegistry:      "registry.k8s.io/e2e-test-images",
		GcEtcdRegistry:           "registry.k8s.io",
		GcRegistry:               "registry.k8s.io",
	}
)

func initImageConfigs(list RegistryList) (map[ImageID]Config, map[ImageID]Config) {
	configs := map[ImageID]Config{}
	configs[AgnhostPrev] = Config{list.PromoterE2eRegistry, "agnhost", "2.55"}
	configs[Agnhost] = Config{list.PromoterE2eRegistry, "agnhost", "2.66.1"}
	configs[Etcd] = Config{list.GcEtcdRegistry, "etcd", "3.7.0-0"}
	configs[Pause] = Config{list.GcRegistry, "pause", "3.10.2"}
	configs[NodePerfNpbEp] = Config{list.PromoterE2eRegistry, "node-perf/npb-ep", "1.6.0"}
`

func TestParseManifest(t *testing.T) {
	m, err := ParseManifest([]byte(manifestSample))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Images) != 5 {
		t.Errorf("%d images: %+v", len(m.Images), m.Images)
	}
	for id, want := range map[string]string{
		"Agnhost":       Registry + "/e2e-test-images/agnhost:2.66.1",
		"AgnhostPrev":   Registry + "/e2e-test-images/agnhost:2.55",
		"Etcd":          Registry + "/etcd:3.7.0-0",
		"Pause":         "registry.k8s.io/pause:3.10.2", // the distribution's own, kept by name
		"NodePerfNpbEp": Registry + "/e2e-test-images/node-perf/npb-ep:1.6.0",
	} {
		got, err := m.Ref(id)
		if err != nil || got != want {
			t.Errorf("Ref(%s) = %q, %v; want %q", id, got, err, want)
		}
	}
	if got, _ := m.UpstreamRef("Agnhost"); got != "registry.k8s.io/e2e-test-images/agnhost:2.66.1" {
		t.Errorf("UpstreamRef(Agnhost) = %q", got)
	}
	if _, err := m.Ref("Nope"); err == nil {
		t.Error("Ref of an unknown image succeeded")
	}
	if _, err := ParseManifest([]byte("package image\n")); err == nil {
		t.Error("a file without the tables parsed")
	}
}

// The committed KUBE_TEST_REPO_LIST file says what RepoList says.
func TestRepoListFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", RepoListFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, RepoListYAML()) {
		t.Errorf("%s is out of date; it should read:\n%s", RepoListFile, RepoListYAML())
	}
	m, err := ParseRepoList(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != len(RepoList) {
		t.Errorf("file maps %v, RepoList %v", m, RepoList)
	}
	for k, v := range RepoList {
		if m[k] != v {
			t.Errorf("%s: file %q, RepoList %q", k, m[k], v)
		}
	}
}

// Every group names images upstream's manifest of the locked release has, and no image is
// made by two groups. The real manifest is read from the module cache when it is there.
func TestGroupsAgainstUpstreamManifest(t *testing.T) {
	seen := map[string]string{}
	for g, ids := range GroupIDs() {
		for _, id := range ids {
			if other, ok := seen[id]; ok {
				t.Errorf("%s is made by groups %s and %s", id, other, g)
			}
			seen[id] = g
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skip("k8s.io/kubernetes is not in the module cache")
	}
	m, err := LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for id := range seen {
		if id == SonobuoyID || id == ConformanceID {
			continue // named here, not by upstream
		}
		if _, ok := m.Images[id]; !ok {
			t.Errorf("group %s makes %s, which upstream's manifest does not have", seen[id], id)
		}
	}
	for _, id := range []string{"Agnhost", "AgnhostPrev", "BusyBox", "Nginx", "NginxNew", "GlibcDnsTesting", "Kitten", "Nautilus", "Nonewprivs", "APIServer", "Etcd"} {
		if _, ok := seen[id]; !ok {
			t.Errorf("no group makes %s, which conformance tests use", id)
		}
	}
}

// The images that run the suite are named under the conformance registry, the conformance
// image by the locked Kubernetes version, as Sonobuoy's --kube-conformance-image expects.
func TestOwnRefs(t *testing.T) {
	b := &builder{Options: Options{Binaries: &binaries.Builder{Source: binaries.Source{KubernetesVersion: "v1.37.2"}}}}
	for id, want := range map[string]string{
		SonobuoyID:    Registry + "/sonobuoy:" + binaries.SonobuoyVersion,
		ConformanceID: Registry + "/conformance:v1.37.2",
	} {
		if got, ok := b.ownRef(id); !ok || got != want {
			t.Errorf("%s: %q, %v; want %q", id, got, ok, want)
		}
	}
	if _, ok := b.ownRef("Agnhost"); ok {
		t.Error("Agnhost is upstream's to name")
	}
}

func TestTreeFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "addons", "dns"), 0o755)
	os.WriteFile(filepath.Join(dir, "addons", "dns", "a.yaml"), []byte("kind: x\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("run.sh", filepath.Join(dir, "link"))
	files, err := treeFiles(dir, "kubernetes/cluster")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]File{}
	for _, f := range files {
		got[f.Path] = f
	}
	if f := got["kubernetes/cluster/addons/dns/a.yaml"]; string(f.Data) != "kind: x\n" || f.Mode != 0o644 {
		t.Errorf("a.yaml: %+v", f)
	}
	if f := got["kubernetes/cluster/run.sh"]; f.Mode != 0o755 {
		t.Errorf("run.sh mode %o", f.Mode)
	}
	if f := got["kubernetes/cluster/link"]; f.Symlink != "run.sh" {
		t.Errorf("link: %+v", f)
	}
	if f := got["kubernetes/cluster/addons"]; !f.Dir {
		t.Errorf("addons is not a dir: %+v", f)
	}
	if _, err := FilesLayer(files); err != nil {
		t.Errorf("the files make no layer: %v", err)
	}
}

func readTar(t *testing.T, data []byte) []*tar.Header {
	t.Helper()
	var hs []*tar.Header
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
}

func TestFilesTar(t *testing.T) {
	files := []File{Exec("bin/busybox", []byte("x")), Dir("bin", 0o755), Link("bin/sh", "busybox"), {Path: "/tmp", Mode: 0o1777, Dir: true}}
	a, err := FilesTar(files)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(files)
	b, err := FilesTar(files)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the same files in another order gave other bytes")
	}
	var names []string
	for _, h := range readTar(t, a) {
		names = append(names, h.Name)
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s: time %v", h.Name, h.ModTime)
		}
	}
	if want := []string{"bin/", "bin/busybox", "bin/sh", "tmp/"}; !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
	if _, err := FilesTar([]File{Regular("a", nil), Regular("/a", nil)}); err == nil {
		t.Error("a path given twice was accepted")
	}
}

func TestTrimRootfs(t *testing.T) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	add := func(h *tar.Header, data string) {
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	add(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./etc/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Uname: "root"}, "root:x:0:0::/root:/bin/sh\n")
	add(&tar.Header{Name: "./dev/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, "")
	add(&tar.Header{Name: "./var/lib/apt/lists/x_Packages", Typeflag: tar.TypeReg, Mode: 0o644}, "big")
	add(&tar.Header{Name: "./usr/bin/perl", Typeflag: tar.TypeReg, Mode: 0o755}, "p")
	add(&tar.Header{Name: "./usr/bin/perl5", Typeflag: tar.TypeLink, Linkname: "./usr/bin/perl"}, "")
	tw.Close()

	out, err := trimRootfs(raw.Bytes(), []string{"u:x:1000:1000::/:/bin/sh"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range readTar(t, out) {
		names = append(names, h.Name)
		if h.Name == "usr/bin/perl5" && h.Linkname != "usr/bin/perl" {
			t.Errorf("hard link to %q", h.Linkname)
		}
	}
	if want := []string{"etc/", "etc/passwd", "dev/", "usr/bin/perl", "usr/bin/perl5"}; !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatal("no etc/passwd")
		}
		if h.Name == "etc/passwd" {
			b, _ := io.ReadAll(tr)
			if string(b) != "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/:/bin/sh\n" {
				t.Errorf("etc/passwd = %q", b)
			}
			break
		}
	}
}

func TestParseSource(t *testing.T) {
	for _, tc := range []struct{ in, pkg, version string }{
		{"Package: busybox-static\nSource: busybox (1:1.35.0-4+deb12u1)\nVersion: 1:1.35.0-4+deb12u1+b1\n\nPackage: busybox-static\nVersion: 1:1.30\n", "busybox", "1:1.35.0-4+deb12u1"},
		{"Package: busybox-static\nSource: busybox\nVersion: 1:1.37.0-6\n", "busybox", "1:1.37.0-6"},
		{"Package: busybox-static\nVersion: 1:1.37.0-6\n", "busybox-static", "1:1.37.0-6"},
	} {
		d, err := parseSource([]byte(tc.in), "busybox-static")
		if err != nil || d.Package != tc.pkg || d.Version != tc.version {
			t.Errorf("parseSource(%q) = %+v, %v; want %s %s", tc.in, d, err, tc.pkg, tc.version)
		}
	}
	for v, want := range map[string]string{"1:1.35.0-4+deb12u1": "1.35.0", "1.37.0-6": "1.37.0", "2.0": "2.0", "1:1.2-3-4": "1.2-3"} {
		if got := upstreamVersion(v); got != want {
			t.Errorf("upstreamVersion(%q) = %q, want %q", v, got, want)
		}
	}
}

func TestBusyboxFiles(t *testing.T) {
	files := busyboxFiles([]byte("bin"), []string{"sh", "busybox", "ls", "wget"})
	data, err := FilesTar(files)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	for _, h := range readTar(t, data) {
		if h.Typeflag == tar.TypeSymlink {
			links[h.Name] = h.Linkname
		}
		if h.Name == "tmp/" && h.Mode != 0o1777 {
			t.Errorf("tmp mode %o", h.Mode)
		}
	}
	if len(links) != 3 || links["bin/sh"] != "busybox" || links["bin/wget"] != "busybox" {
		t.Errorf("applet links %v", links)
	}
}

func TestHasSuite(t *testing.T) {
	src := "Types: deb\nURIs: http://mirror/debian\nSuites: bookworm bookworm-updates\n"
	if !hasSuite(src, "bookworm") || hasSuite(src, "trixie") || hasSuite("Suites: bookworm-updates\n", "bookworm") {
		t.Error("suite detection is wrong")
	}
}

func TestTarFile(t *testing.T) {
	data, err := FilesTar([]File{Dir("usr", 0o755), Dir("usr/lib", 0o755), Regular("usr/lib/os-release", []byte("NAME=x\n")), Link("etc-os-release", "usr/lib/os-release")})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tarFile(data, "usr/lib/os-release"); err != nil || string(got) != "NAME=x\n" {
		t.Errorf("tarFile = %q, %v", got, err)
	}
	if _, err := tarFile(data, "etc-os-release"); err == nil {
		t.Error("a symlink read as a file")
	}
	if _, err := tarFile(data, "missing"); err == nil || !strings.Contains(err.Error(), "no file missing") {
		t.Errorf("a missing file: %v", err)
	}
}
