package images

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/distro-io/distro/distro/version"
)

// Registry is the registry host the conformance images are named under. The images are built
// here and are not upstream's (they differ in base system, see conformance/README.md), so they
// do not take upstream's names: a node that holds them never passes them off as registry.k8s.io
// images, and a test asking for an image that was not built fails on a name that can never
// resolve (.invalid, RFC 2606) instead of waiting on a registry it cannot reach.
const Registry = "conformance." + version.Program + ".invalid"

// RepoList maps the fields of upstream's RegistryList (test/utils/image/manifest.go) that the
// conformance images live under to where they are named here. It is what the KUBE_TEST_REPO_LIST
// file says; fields it leaves out keep upstream's registry. gcRegistry (registry.k8s.io) keeps
// its name on purpose: the only conformance image there is pause, which the distribution itself
// builds and imports under that name on every node (distro/images.Pause).
var RepoList = map[string]string{
	"promoterE2eRegistry": Registry + "/e2e-test-images",
	"gcEtcdRegistry":      Registry,
}

// RepoListFile is the KUBE_TEST_REPO_LIST file's path relative to the module root.
const RepoListFile = "conformance/repo-list.yaml"

// Upstream is one image entry of upstream's manifest: configs[ID] = Config{list.Field, name, tag}.
type Upstream struct {
	ID   string // the ImageID constant (Agnhost, BusyBox, …)
	Key  string // the RegistryList field's YAML key (promoterE2eRegistry, …)
	Name string
	Tag  string
}

// Ref is the image's reference once RepoList is applied; defaults are upstream's registries by
// YAML key (see ParseManifest).
func (u Upstream) Ref(defaults map[string]string) (string, error) {
	reg, ok := RepoList[u.Key]
	if !ok {
		if reg, ok = defaults[u.Key]; !ok {
			return "", fmt.Errorf("image %s: upstream's manifest has no registry %s", u.ID, u.Key)
		}
	}
	return reg + "/" + u.Name + ":" + u.Tag, nil
}

// Manifest is what upstream's test/utils/image/manifest.go says.
type Manifest struct {
	// Registries are the default registries by YAML key (initRegistry).
	Registries map[string]string
	// Images by ImageID constant name.
	Images map[string]Upstream
}

var (
	manifestImage    = regexp.MustCompile(`(?m)^\s*configs\[(\w+)\]\s*=\s*Config\{list\.(\w+),\s*"([^"]+)",\s*"([^"]+)"\}`)
	manifestRegistry = regexp.MustCompile(`(?m)^\s*(\w+Registry):\s*"([^"]+)",`)
	manifestYAMLKey  = regexp.MustCompile("(?m)^\\s*(\\w+Registry)\\s+string\\s+`yaml:\"(\\w+)\"`")
)

// ParseManifest reads the image table of upstream's manifest.go. It is read rather than copied
// so that a Kubernetes bump that moves an image to a new tag moves ours with it.
func ParseManifest(src []byte) (*Manifest, error) {
	keys := map[string]string{} // Go field → YAML key
	for _, m := range manifestYAMLKey.FindAllSubmatch(src, -1) {
		keys[string(m[1])] = string(m[2])
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("image manifest: no RegistryList fields: upstream changed its format")
	}
	mf := &Manifest{Registries: map[string]string{}, Images: map[string]Upstream{}}
	for _, m := range manifestRegistry.FindAllSubmatch(src, -1) {
		if k, ok := keys[string(m[1])]; ok {
			if _, seen := mf.Registries[k]; !seen { // initRegistry comes first
				mf.Registries[k] = string(m[2])
			}
		}
	}
	for _, m := range manifestImage.FindAllSubmatch(src, -1) {
		k, ok := keys[string(m[2])]
		if !ok {
			return nil, fmt.Errorf("image manifest: %s uses unknown registry field %s", m[1], m[2])
		}
		mf.Images[string(m[1])] = Upstream{ID: string(m[1]), Key: k, Name: string(m[3]), Tag: string(m[4])}
	}
	if len(mf.Images) == 0 {
		return nil, fmt.Errorf("image manifest: no configs[...] entries: upstream changed its format")
	}
	return mf, nil
}

// LoadManifest reads test/utils/image/manifest.go of the Kubernetes source in dir.
func LoadManifest(kubernetesDir string) (*Manifest, error) {
	src, err := os.ReadFile(filepath.Join(kubernetesDir, "test", "utils", "image", "manifest.go"))
	if err != nil {
		return nil, err
	}
	return ParseManifest(src)
}

// Ref is the reference the tests use for the image with the given ImageID, RepoList applied.
func (m *Manifest) Ref(id string) (string, error) {
	u, ok := m.Images[id]
	if !ok {
		return "", fmt.Errorf("upstream's image manifest has no image %s", id)
	}
	return u.Ref(m.Registries)
}

// UpstreamRef is the reference upstream's tests use without a repo list.
func (m *Manifest) UpstreamRef(id string) (string, error) {
	u, ok := m.Images[id]
	if !ok {
		return "", fmt.Errorf("upstream's image manifest has no image %s", id)
	}
	return m.Registries[u.Key] + "/" + u.Name + ":" + u.Tag, nil
}

// RepoListYAML is the KUBE_TEST_REPO_LIST file's content: a comment, then RepoList sorted.
func RepoListYAML() []byte {
	var b strings.Builder
	b.WriteString("# KUBE_TEST_REPO_LIST for e2e.test: where the conformance images built by\n")
	b.WriteString("# `mage conformance:images` are named (registries the file leaves out keep upstream's).\n")
	b.WriteString("# Generated from conformance/images.RepoList; a unit test keeps the two equal.\n")
	keys := make([]string, 0, len(RepoList))
	for k := range RepoList {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, RepoList[k])
	}
	return []byte(b.String())
}

// ParseRepoList reads a KUBE_TEST_REPO_LIST file the way e2e.test does (YAML, keyed by field).
func ParseRepoList(data []byte) (map[string]string, error) {
	m := map[string]string{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("repo list: %w", err)
	}
	return m, nil
}
