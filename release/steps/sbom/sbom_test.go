package sbom

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/pipeline/pipelinetest"
	"github.com/distro-io/distro/release/upstream"
)

// buildInfo is what `go version -m` prints for a workspace build: kubernetes replaced
// by its patched tree, a staging module Kubernetes requires at v0.0.0 replaced by the
// locked version (as go.mod does), kine and containerd from the proxy.
const buildInfo = `path	github.com/distro-io/distro/distro/cmd/distro
mod	github.com/distro-io/distro	(devel)	
dep	github.com/containerd/containerd/v2	v2.4.2	h1:p6Qg+xbEz8lvwdhHDx0U469xENvp4LgGBx+E7djXkGw=
dep	github.com/k3s-io/kine	v0.17.5	h1:QHFCxnRqLvpstdUE86BAUCPiJjOxxV3mBe6pb/fOeYQ=
dep	github.com/mattn/go-sqlite3	v1.14.52	h1:sqlitesumsqlitesumsqlitesumsqlitesumsqlitesu=
dep	k8s.io/api	v0.0.0
=>	k8s.io/api	v0.37.2	h1:PnxqnUFy93jr2GcpWDkKOm8wfy25kT9wa572MuQS8oc=
dep	k8s.io/kubernetes	v1.37.2	
=>	./src/k8s.io/kubernetes@v1.37.2		
build	-tags=netgo,osusergo
`

func lock(t *testing.T) *upstream.Lock {
	t.Helper()
	l, err := upstream.Parse("upstream.lock", []byte(pipelinetest.LockText))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func parse(t *testing.T, text string) *debug.BuildInfo {
	t.Helper()
	info, err := debug.ParseBuildInfo(text)
	if err != nil {
		t.Fatal(err)
	}
	info.GoVersion = "go1.27.3" // the go line is not part of what ParseBuildInfo reads
	return info
}

func props(c cdx.Component) map[string]string {
	out := map[string]string{}
	if c.Properties != nil {
		for _, p := range *c.Properties {
			out[p.Name] = p.Value
		}
	}
	return out
}

func TestGenerate(t *testing.T) {
	in := Input{Version: pipelinetest.Version(t, "v1.37.2+distro1"), Info: parse(t, buildInfo), Lock: lock(t), BinarySHA256: strings.Repeat("ab", 32)}
	bom, err := Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	data, err := Encode(bom)
	if err != nil {
		t.Fatal(err)
	}
	// Read it back as any consumer would.
	var got cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&got); err != nil {
		t.Fatalf("decoding our own SBOM: %v\n%s", err, data)
	}
	root := got.Metadata.Component
	if root.Name != "distro" || root.Version != "v1.37.2+distro1" || (*root.Hashes)[0].Value != in.BinarySHA256 || props(*root)[PropGoVersion] != "go1.27.3" {
		t.Errorf("root component %+v", root)
	}
	comps := map[string]cdx.Component{}
	var order []string
	for _, c := range *got.Components {
		comps[c.Name] = c
		order = append(order, c.Name)
	}
	// Five linked modules, plus runc and the CNI plugins from the lock only.
	want := []string{
		"github.com/containerd/containerd/v2", "github.com/containernetworking/plugins", "github.com/k3s-io/kine",
		"github.com/mattn/go-sqlite3", "github.com/opencontainers/runc", "k8s.io/api", "k8s.io/kubernetes",
	}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Fatalf("components %v, want %v", order, want)
	}
	k := props(comps["k8s.io/kubernetes"])
	if k[PropReplacedBy] != "./src/k8s.io/kubernetes@v1.37.2" || k[PropUpstreamRole] != "kubernetes" ||
		k[PropUpstreamSum] != "h1:A2VDEiObzkYqFTKhSsn0ZEb0RlLEXpHWj93gi2HqEwE=" || k[PropGoSum] != "" {
		t.Errorf("kubernetes properties %v", k)
	}
	if comps["k8s.io/kubernetes"].PackageURL != "pkg:golang/k8s.io/kubernetes@v1.37.2" {
		t.Errorf("purl %q", comps["k8s.io/kubernetes"].PackageURL)
	}
	if root.PackageURL != "pkg:golang/github.com/distro-io/distro@v1.37.2%2Bdistro1" {
		t.Errorf("root purl %q: build metadata's + must be percent-encoded", root.PackageURL)
	}
	runc := props(comps["github.com/opencontainers/runc"])
	if runc[PropUpstreamRole] != "payload" || runc[PropUpstreamSum] != "h1:y3GUIW7J0Gxd+tCFfWR6L1YDnhHiNR1BGRx1J50+VnA=" {
		t.Errorf("runc properties %v", runc)
	}
	if api := comps["k8s.io/api"]; api.Version != "v0.37.2" || props(api)[PropReplacedBy] != "k8s.io/api v0.37.2" || props(api)[PropUpstreamRole] != "staging" {
		t.Errorf("a staging module linked through go.mod's replacement: %+v %v", api, props(api))
	}
	sqlite := props(comps["github.com/mattn/go-sqlite3"])
	if sqlite[PropGoSum] == "" || sqlite[PropUpstreamRole] != "" {
		t.Errorf("go-sqlite3 properties %v", sqlite)
	}
	deps := (*got.Dependencies)[0]
	if deps.Ref != root.BOMRef || len(*deps.Dependencies) != len(want) {
		t.Errorf("dependencies %+v", deps)
	}

	again, err := Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	if data2, _ := Encode(again); !bytes.Equal(data, data2) {
		t.Error("the same input made different SBOMs")
	}
}

func TestGenerateRefusesABinaryBuiltFromAnotherLock(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"github.com/k3s-io/kine\tv0.17.5", "github.com/k3s-io/kine\tv0.17.4", "github.com/k3s-io/kine@v0.17.4"},
		{"=>\tk8s.io/api\tv0.37.2", "=>\tk8s.io/api\tv0.37.1", "k8s.io/api@v0.37.1"},
		{"./src/k8s.io/kubernetes@v1.37.2", "./src/k8s.io/kubernetes@v1.37.1", "k8s.io/kubernetes@v1.37.1"},
		{"./src/k8s.io/kubernetes@v1.37.2\t", "./src/k8s.io/kubernetes@v1.37.1\t(devel)", "k8s.io/kubernetes@v1.37.1"},
	} {
		info := parse(t, strings.Replace(buildInfo, tc.from, tc.to, 1))
		_, err := Generate(Input{Version: pipelinetest.Version(t, "v1.37.2+distro1"), Info: info, Lock: lock(t)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v", tc.to, err)
		}
	}
}

// copyFile copies the test binary, a real Go executable with build information.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStepReadsARealBinary(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, self, filepath.Join(repo.Dir, "build", "distro"))
	c := repo.Context()
	c.Version = pipelinetest.Version(t, "v1.37.2+distro1")
	c.Commit = repo.Git("rev-parse", "HEAD")
	res, err := Step{Binary: "build/distro"}.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.(pipeline.Done); !ok {
		t.Errorf("result %#v", res)
	}
	if len(c.Artifacts) != 1 || c.Artifacts[0].Name != "distro-sbom-amd64.cdx.json" {
		t.Fatalf("artifacts %+v", c.Artifacts)
	}
	data, err := os.ReadFile(c.Artifacts[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	// The test binary links cyclonedx-go; the lock adds kubernetes.
	for _, want := range []string{`"pkg:golang/github.com/CycloneDX/cyclonedx-go@v0.12.0"`, `"k8s.io/kubernetes"`, `"specVersion": "1.7"`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("SBOM lacks %s", want)
		}
	}
	if ts := repo.Git("show", "-s", "--format=%cI", "HEAD"); !bytes.Contains(data, []byte(`"timestamp": "`)) {
		t.Errorf("SBOM has no timestamp (commit time %s)", ts)
	}
}

func TestStepWithoutBinarySaysToBuild(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	c := repo.Context()
	c.Version = pipelinetest.Version(t, "v1.37.2+distro1")
	repo.Write("build/distro", "not an executable")
	_, err := Step{Binary: "build/distro"}.Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "build/distro") {
		t.Fatalf("err = %v", err)
	}
}

// The binary may link, as a library, a module the lock pins at another version for a
// payload executable (the CNI plugins, through flannel): both are listed. A module locked
// for the tests only never ships and is not listed.
func TestGenerateListsAPayloadModuleTheBinaryAlsoLinks(t *testing.T) {
	info := parse(t, strings.Replace(buildInfo, "build\t", "dep\tgithub.com/containernetworking/plugins\tv1.9.1\th1:cnicnicnicnicnicnicnicnicnicnicnicnicnicnic=\nbuild\t", 1))
	l, err := upstream.Parse("upstream.lock", []byte(pipelinetest.LockText+`  - path: go.etcd.io/etcd/server/v3
    version: v3.7.3
    sum: h1:etcdetcdetcdetcdetcdetcdetcdetcdetcdetcdetc=
    role: test
`))
	if err != nil {
		t.Fatal(err)
	}
	bom, err := Generate(Input{Version: pipelinetest.Version(t, "v1.37.2+distro1"), Info: info, Lock: l})
	if err != nil {
		t.Fatal(err)
	}
	var cni []string
	for _, c := range *bom.Components {
		if c.Name == "github.com/containernetworking/plugins" {
			cni = append(cni, c.Version+" "+props(c)[PropUpstreamRole]+" "+c.BOMRef)
		}
		if strings.HasPrefix(c.Name, "go.etcd.io/") {
			t.Errorf("a test-only module is listed: %+v", c)
		}
	}
	want := []string{
		"v1.10.0 payload pkg:golang/github.com/containernetworking/plugins@v1.10.0",
		"v1.9.1  pkg:golang/github.com/containernetworking/plugins@v1.9.1",
	}
	if strings.Join(cni, "\n") != strings.Join(want, "\n") {
		t.Errorf("CNI plugins components:\n%s\nwant:\n%s", strings.Join(cni, "\n"), strings.Join(want, "\n"))
	}
	if n := len(*(*bom.Dependencies)[0].Dependencies); n != len(*bom.Components) {
		t.Errorf("%d dependencies for %d components", n, len(*bom.Components))
	}
}
