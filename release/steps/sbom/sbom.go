// Package sbom writes the release's software bill of materials in CycloneDX JSON: every
// Go module linked into the distro binary, plus every upstream module upstream.lock pins
// with its h1: hash and its role (including the payload executables and images, which are
// built apart and so are not in the binary's module list; a module the binary also links
// at another version is listed at both). Modules locked for the tests only are left out.
//
// The module list comes from the binary's own build information (what `go version -m`
// prints), not from `go list -m all`: the binary records exactly the modules that were
// linked, at the versions and replacements the release build used (the patched trees
// of build/go.work included), while `go list -m all` lists the whole module graph,
// test-only and unused modules too, and knows nothing of the workspace build.
package sbom

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/steps/artifacts"
	"github.com/distro-io/distro/release/steps/checksums"
	"github.com/distro-io/distro/release/upstream"
	releaseversion "github.com/distro-io/distro/release/version"
)

// File is the asset name of the SBOM.
const File = version.Program + "-sbom-amd64.cdx.json"

// Property names this SBOM uses, in the project's own namespace.
const (
	PropGoSum        = version.Program + ":go-sum"        // h1: hash recorded in the binary
	PropUpstreamSum  = version.Program + ":upstream-sum"  // h1: hash upstream.lock pins
	PropUpstreamRole = version.Program + ":upstream-role" // role in upstream.lock
	PropReplacedBy   = version.Program + ":replaced-by"   // the module or directory the build used instead
	PropGoVersion    = version.Program + ":go-version"
)

// Step is the SBOM step.
type Step struct {
	// Binary is the multicall binary with Go build information (build/distro), relative
	// to the repository. dist/distro is the launcher wrapping it and has the launcher's.
	Binary string
}

var _ pipeline.Step = Step{}

// Name implements pipeline.Step.
func (Step) Name() string { return "sbom" }

// Run implements pipeline.Step.
func (s Step) Run(ctx context.Context, c *pipeline.Context) (pipeline.Result, error) {
	if !c.HasVersion() {
		return nil, fmt.Errorf("no version; the version step runs first")
	}
	bin := s.Binary
	if !filepath.IsAbs(bin) {
		bin = filepath.Join(c.RepoDir, bin)
	}
	info, err := ReadBinary(bin)
	if err != nil {
		return nil, err
	}
	in := Input{Version: c.Version, Info: info, Lock: c.Lock}
	for _, a := range c.Artifacts {
		if a.Name == artifacts.Binary {
			if in.BinarySHA256, err = checksums.SHA256File(a.Path); err != nil {
				return nil, err
			}
		}
	}
	// The commit's time, not the clock's: the same commit makes the same SBOM.
	if c.Commit != "" {
		out, err := pipeline.Git(ctx, c.RepoDir, "show", "-s", "--format=%cI", c.Commit)
		if err != nil {
			return nil, err
		}
		if in.Time, err = time.Parse(time.RFC3339, strings.TrimSpace(out)); err != nil {
			return nil, fmt.Errorf("commit time of %s: %w", c.Commit, err)
		}
	}
	bom, err := Generate(in)
	if err != nil {
		return nil, err
	}
	data, err := Encode(bom)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.DistDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(c.DistDir, File)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, err
	}
	c.Add(pipeline.Artifact{Name: File, Path: path})
	return pipeline.Done{Detail: fmt.Sprintf("%s: %d components", path, len(*bom.Components))}, nil
}

// ReadBinary reads the Go build information of an executable.
func ReadBinary(path string) (*debug.BuildInfo, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading Go build information of %s (build it first): %w", path, err)
	}
	return info, nil
}

// Input is what an SBOM is made of.
type Input struct {
	Version      releaseversion.Version
	Info         *debug.BuildInfo
	Lock         *upstream.Lock
	BinarySHA256 string    // of dist/distro, the file users download; empty to leave out
	Time         time.Time // zero leaves the timestamp out
}

// Generate builds the SBOM. Components are sorted by path so that the same input gives
// the same bytes.
func Generate(in Input) (*cdx.BOM, error) {
	if in.Info == nil || in.Lock == nil {
		return nil, fmt.Errorf("an SBOM needs the binary's build information and upstream.lock")
	}
	root := cdx.Component{
		BOMRef:     purl(in.Info.Main.Path, in.Version.String()),
		Type:       cdx.ComponentTypeApplication,
		Name:       version.Program,
		Version:    in.Version.String(),
		PackageURL: purl(in.Info.Main.Path, in.Version.String()),
	}
	if in.Info.GoVersion != "" {
		addProp(&root, PropGoVersion, in.Info.GoVersion)
	}
	if in.BinarySHA256 != "" {
		root.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: in.BinarySHA256}}
	}

	// Components are keyed by path and version: a module the binary links may also be
	// built, at another version, into a payload executable or an image.
	byKey := map[string]*cdx.Component{}
	linked := map[string]*cdx.Component{}
	var keys []string
	add := func(path, ver string) *cdx.Component {
		c := &cdx.Component{BOMRef: purl(path, ver), Type: cdx.ComponentTypeLibrary, Name: path, Version: ver, PackageURL: purl(path, ver)}
		byKey[path+"@"+ver] = c
		keys = append(keys, path+"@"+ver)
		return c
	}
	for _, d := range in.Info.Deps {
		c := add(d.Path, linkedVersion(d))
		linked[d.Path] = c
		if d.Sum != "" {
			addProp(c, PropGoSum, d.Sum)
		}
		if r := d.Replace; r != nil {
			// A directory replacement (the patched trees) has no version of its own.
			addProp(c, PropReplacedBy, strings.TrimSpace(r.Path+" "+r.Version))
			if r.Sum != "" {
				addProp(c, PropGoSum, r.Sum)
			}
		}
	}
	for _, m := range in.Lock.Modules {
		if m.Role == upstream.RoleTest {
			continue // built for the tests only; it never ships
		}
		c, ok := linked[m.Path]
		switch {
		case ok && c.Version == m.Version:
		case ok && linkedRole(m.Role):
			return nil, fmt.Errorf("the binary links %s@%s, but upstream.lock pins %s; rebuild from the lock", m.Path, c.Version, m)
		default:
			// Not linked at this version: a payload executable or an image built from the
			// lock's version, or a staging module the binary does not use.
			c = add(m.Path, m.Version)
		}
		addProp(c, PropUpstreamRole, m.Role)
		if m.Sum != "" {
			addProp(c, PropUpstreamSum, m.Sum)
		}
	}
	slices.Sort(keys)
	components := make([]cdx.Component, 0, len(keys))
	refs := make([]string, 0, len(keys))
	for _, k := range keys {
		components = append(components, *byKey[k])
		refs = append(refs, byKey[k].BOMRef)
	}

	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{Component: &root}
	if !in.Time.IsZero() {
		bom.Metadata.Timestamp = in.Time.UTC().Format(time.RFC3339)
	}
	bom.Components = &components
	bom.Dependencies = &[]cdx.Dependency{{Ref: root.BOMRef, Dependencies: &refs}}
	return bom, nil
}

// Encode writes the SBOM as indented CycloneDX JSON.
func Encode(bom *cdx.BOM) ([]byte, error) {
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	if err := enc.Encode(bom); err != nil {
		return nil, fmt.Errorf("encoding the SBOM: %w", err)
	}
	return buf.Bytes(), nil
}

// linkedRole reports whether a lock role pins what the binary itself links; the others
// (payload, image) are built apart from their own module graphs.
func linkedRole(role string) bool {
	return role == upstream.RoleKubernetes || role == upstream.RoleStaging || role == upstream.RoleLinked
}

// linkedVersion is the version of a module's code in the binary. A module required at
// one version and replaced by another version of itself (go.mod pins every staging module
// that way: Kubernetes requires them at v0.0.0) links the replacement. A patched tree,
// build/src/<path>@<version>, links the version it was made from; other directory
// replacements keep the required version.
func linkedVersion(d *debug.Module) string {
	r := d.Replace
	switch {
	case r == nil:
		return d.Version
	case r.Version != "" && r.Version != "(devel)" && r.Path == d.Path:
		return r.Version
	case r.Version == "" || r.Version == "(devel)":
		if at := strings.LastIndex(r.Path, "@"); at > 0 && strings.HasSuffix(r.Path[:at], "/"+d.Path) {
			return r.Path[at+1:]
		}
	}
	return d.Version
}

func purl(path, ver string) string {
	if ver == "" || ver == "(devel)" {
		return "pkg:golang/" + path
	}
	// The purl spec wants "+" percent-encoded in versions (it would read as a space).
	return "pkg:golang/" + path + "@" + strings.ReplaceAll(ver, "+", "%2B")
}

func addProp(c *cdx.Component, name, value string) {
	if c.Properties == nil {
		c.Properties = &[]cdx.Property{}
	}
	*c.Properties = append(*c.Properties, cdx.Property{Name: name, Value: value})
}
