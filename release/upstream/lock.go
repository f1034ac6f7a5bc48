// Package upstream reads, checks and rewrites upstream.lock: the list of upstream Go modules
// distro is built from, each pinned by version and h1: hash, and verifies those modules
// through the go command.
package upstream

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/distro-io/distro/distro/version"
)

// Roles a module can play in a release.
const (
	// RoleKubernetes is the upstream tree the release is named after; a lock has exactly one.
	RoleKubernetes = "kubernetes"
	// RoleStaging is a k8s.io/* staging module released together with the kubernetes module.
	RoleStaging = "staging"
	// RoleLinked is a module linked into the distro binary.
	RoleLinked = "linked"
	// RolePayload is built into a separate executable shipped inside the binary.
	RolePayload = "payload"
	// RoleImage is built into a container image shipped in the airgap image archive (CoreDNS,
	// for example); it is built with its own go.mod, so go.mod need not require it.
	RoleImage = "image"
	// RoleTest is built only for the tests (an etcd to run the server against, for example)
	// and never ships; go.mod need not require it.
	RoleTest = "test"
)

var roles = []string{RoleKubernetes, RoleStaging, RoleLinked, RolePayload, RoleImage, RoleTest}

// DefaultHeader is written above the lock's data when a Lock carries no header of its own.
const DefaultHeader = `# upstream.lock: every upstream source distro is built from, pinned by Go module
# version and h1: hash (the hash the Go checksum database records for the module zip).
# ` + "`mage upstream:verify`" + ` downloads each module through the Go module proxy and refuses
# any whose hash differs. Releases are named <kubernetes>+distro<revision>.
#
# role: kubernetes  the upstream tree the release is named after
#       staging     a k8s.io/* staging module of that tree, same release
#       linked      linked into the distro binary
#       payload     built into a separate executable shipped inside the binary
#       image       built into a container image shipped in the airgap image archive
#       test        built only for the tests, never shipped
`

// Lock is the content of upstream.lock.
type Lock struct {
	// Revision counts distro releases of the same Kubernetes version, starting at 1.
	Revision int
	Modules  []Module
	// Header holds the comment lines above the data, each ending in a newline; Write
	// uses DefaultHeader when it is empty.
	Header string
}

// Module is one pinned upstream module.
//
// Sum may be empty in a lock a person edited by hand: Load accepts `sum: ""` (the key must
// still be there) so that Refresh can fill it in, but Verify refuses such a lock.
type Module struct {
	Path    string
	Version string
	// Sum is the h1: hash of the module zip, as go.sum and the checksum database record it.
	Sum  string
	Role string
}

// String returns path@version.
func (m Module) String() string { return m.Path + "@" + m.Version }

// Kubernetes returns the module with role kubernetes (the zero Module if there is none,
// which Load never lets through).
func (l *Lock) Kubernetes() Module {
	for _, m := range l.Modules {
		if m.Role == RoleKubernetes {
			return m
		}
	}
	return Module{}
}

// ByRole returns the modules with the given role, in lock order.
func (l *Lock) ByRole(role string) []Module {
	var out []Module
	for _, m := range l.Modules {
		if m.Role == role {
			out = append(out, m)
		}
	}
	return out
}

// Find returns the module with the given path.
func (l *Lock) Find(path string) (Module, bool) {
	for _, m := range l.Modules {
		if m.Path == path {
			return m, true
		}
	}
	return Module{}, false
}

// ReleaseVersion is the version distro releases from this lock carry, e.g. v1.37.2+distro1.
func (l *Lock) ReleaseVersion() string {
	return l.Kubernetes().Version + "+" + version.Program + strconv.Itoa(l.Revision)
}

// Clone returns a deep copy, so a changed lock never aliases the one it came from.
func (l *Lock) Clone() *Lock {
	c := *l
	c.Modules = slices.Clone(l.Modules)
	return &c
}

// Validate reports every problem of a lock built in code, in the same words Load uses.
func (l *Lock) Validate() error {
	return joinProblems(validate(l, func(int, string) string { return "" }))
}

// Load reads and strictly checks a lock file. Every problem is reported, each with the file,
// the line and the module it concerns.
func Load(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load for data already in memory; name is used in messages.
func Parse(name string, data []byte) (*Lock, error) {
	p := parser{name: name}
	l := p.parse(data)
	p.problems = append(p.problems, validate(l, p.where)...)
	if err := joinProblems(p.problems); err != nil {
		return nil, err
	}
	return l, nil
}

// parser turns the YAML node tree into a Lock, recording every structural problem with its line.
type parser struct {
	name     string
	problems []string
	// top and lines hold the line of each key whose value was read: top-level keys in top,
	// module i's keys in lines[i] (its own line under ""). A key missing there was either
	// absent or unreadable, which the parser has already reported.
	top   map[string]int
	lines []map[string]int
}

func (p *parser) addf(line int, format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf("%s:%d: ", p.name, line)+fmt.Sprintf(format, args...))
}

// skip is what where returns for a key the parser already reported, so validate stays quiet.
const skip = "-"

// where names the position of module i's key (or of a top-level key when i < 0).
func (p *parser) where(i int, key string) string {
	lines := p.top
	if i >= 0 {
		lines = p.lines[i]
	}
	if line, ok := lines[key]; ok {
		return fmt.Sprintf("%s:%d", p.name, line)
	}
	return skip
}

func (p *parser) parse(data []byte) *Lock {
	l := &Lock{Header: leadingComments(data)}
	p.top = map[string]int{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if err == nil && len(doc.Content) == 0 {
		err = io.EOF
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("file is empty")
		}
		p.problems = append(p.problems, fmt.Sprintf("%s: %v", p.name, err))
		return l
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		p.addf(extra.Line, "a second YAML document; the lock holds exactly one")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.addf(root.Line, "expected a mapping with keys revision and modules")
		return l
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		if seen[key.Value] {
			p.addf(key.Line, "key %q appears twice", key.Value)
			continue
		}
		seen[key.Value] = true
		switch key.Value {
		case "revision":
			n, err := strconv.Atoi(val.Value)
			if val.Kind != yaml.ScalarNode || err != nil {
				p.addf(val.Line, "revision %q is not a whole number", val.Value)
				continue
			}
			l.Revision = n
		case "modules":
			if val.Kind != yaml.SequenceNode {
				p.addf(val.Line, "modules must be a list")
				continue
			}
			for _, item := range val.Content {
				l.Modules = append(l.Modules, p.module(len(l.Modules), item))
			}
		default:
			p.addf(key.Line, "unknown key %q (allowed: revision, modules)", key.Value)
			continue
		}
		p.top[key.Value] = key.Line
	}
	for _, key := range []string{"revision", "modules"} {
		if !seen[key] {
			p.addf(root.Line, "missing key %q", key)
		}
	}
	return l
}

var moduleKeys = []string{"path", "version", "sum", "role"}

func (p *parser) module(i int, n *yaml.Node) Module {
	lines := map[string]int{"": n.Line}
	p.lines = append(p.lines, lines)
	var m Module
	if n.Kind != yaml.MappingNode {
		p.addf(n.Line, "module #%d: expected a mapping with keys %s", i+1, strings.Join(moduleKeys, ", "))
		return m
	}
	// The path names the module in every message, so read it first.
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == "path" && n.Content[j+1].Kind == yaml.ScalarNode {
			m.Path = n.Content[j+1].Value
		}
	}
	name := moduleName(i, m.Path)
	seen := map[string]bool{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		key, val := n.Content[j], n.Content[j+1]
		if seen[key.Value] {
			p.addf(key.Line, "%s: key %q appears twice", name, key.Value)
			continue
		}
		seen[key.Value] = true
		if !slices.Contains(moduleKeys, key.Value) {
			p.addf(key.Line, "%s: unknown key %q (allowed: %s)", name, key.Value, strings.Join(moduleKeys, ", "))
			continue
		}
		if val.Kind != yaml.ScalarNode {
			p.addf(val.Line, "%s: %s must be a string", name, key.Value)
			continue
		}
		lines[key.Value] = key.Line
		switch key.Value {
		case "version":
			m.Version = val.Value
		case "sum":
			m.Sum = val.Value
		case "role":
			m.Role = val.Value
		}
	}
	for _, key := range moduleKeys {
		if !seen[key] {
			p.addf(n.Line, "%s: missing key %q", name, key)
		}
	}
	return m
}

func moduleName(i int, path string) string {
	if path == "" {
		return fmt.Sprintf("module #%d", i+1)
	}
	return "module " + path
}

// validate checks what the YAML structure cannot: values, uniqueness, the one kubernetes
// module, and staging versions that follow it. where(i, key) names the position of module i's
// key, or of a top-level key when i < 0.
func validate(l *Lock, where func(i int, key string) string) []string {
	var problems []string
	add := func(pos, format string, args ...any) {
		if pos == skip {
			return
		}
		if pos != "" {
			pos += ": "
		}
		problems = append(problems, pos+fmt.Sprintf(format, args...))
	}
	if l.Revision < 1 {
		add(where(-1, "revision"), "revision %d is less than 1", l.Revision)
	}
	if len(l.Modules) == 0 {
		add(where(-1, "modules"), "modules is empty")
	}
	seen := map[string]int{}
	var kubernetes []string
	for i, m := range l.Modules {
		name := moduleName(i, m.Path)
		if err := module.CheckPath(m.Path); err != nil {
			add(where(i, "path"), "%s: %v", name, err)
		} else if first, dup := seen[m.Path]; dup {
			add(where(i, "path"), "%s: listed twice (first as module #%d)", name, first+1)
		} else {
			seen[m.Path] = i
		}
		if !semver.IsValid(m.Version) || semver.Canonical(m.Version) != m.Version && !strings.HasSuffix(m.Version, "+incompatible") {
			add(where(i, "version"), "%s: version %q is not a canonical semantic version such as v1.2.3", name, m.Version)
		} else if err := module.Check(m.Path, m.Version); err != nil && module.CheckPath(m.Path) == nil {
			add(where(i, "version"), "%s: %v", name, err)
		}
		if m.Sum != "" {
			if err := checkSum(m.Sum); err != nil {
				add(where(i, "sum"), "%s: sum %q %v", name, m.Sum, err)
			}
		}
		switch {
		case m.Role == RoleKubernetes:
			kubernetes = append(kubernetes, m.Path)
		case !slices.Contains(roles, m.Role):
			add(where(i, "role"), "%s: unknown role %q (allowed: %s)", name, m.Role, strings.Join(roles, ", "))
		}
	}
	if len(kubernetes) != 1 {
		add(where(-1, "modules"), "%d modules have role kubernetes (%s); exactly one must", len(kubernetes), strings.Join(kubernetes, ", "))
		return problems
	}
	k := l.Kubernetes()
	if semver.Major(k.Version) != "v1" {
		return problems
	}
	want := StagingVersion(k.Version)
	for i, m := range l.Modules {
		if m.Role == RoleStaging && m.Version != want {
			add(where(i, "version"), "%s: staging version %s does not follow kubernetes %s (want %s)", moduleName(i, m.Path), m.Version, k.Version, want)
		}
	}
	return problems
}

// StagingVersion maps a Kubernetes version v1.X.Y to the version of its staging modules, v0.X.Y.
func StagingVersion(kubernetes string) string {
	return "v0" + strings.TrimPrefix(kubernetes, "v1")
}

// checkSum accepts an h1: hash: "h1:" and the standard base64 of a SHA-256 digest.
func checkSum(sum string) error {
	b64, ok := strings.CutPrefix(sum, "h1:")
	if !ok {
		return errors.New(`does not start with "h1:"`)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return fmt.Errorf("is not valid base64: %v", err)
	}
	if len(raw) != 32 {
		return fmt.Errorf("holds %d bytes, a SHA-256 hash has 32", len(raw))
	}
	return nil
}

func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = errors.New(p)
	}
	return errors.Join(errs...)
}

// leadingComments returns the comment and blank lines at the top of the file.
func leadingComments(data []byte) string {
	var header strings.Builder
	for len(data) > 0 {
		line, rest, found := bytes.Cut(data, []byte("\n"))
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) > 0 && trimmed[0] != '#' || !found {
			break
		}
		header.Write(line)
		header.WriteByte('\n')
		data = rest
	}
	return header.String()
}

// Marshal renders the lock in its one canonical layout: header, revision, then one block of
// path, version, sum and role per module.
func (l *Lock) Marshal() ([]byte, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	header := l.Header
	if header == "" {
		header = DefaultHeader
	}
	if leadingComments([]byte(header)) != header {
		return nil, errors.New("lock header: every line must be a comment or blank and end in a newline")
	}
	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, "revision: %d\nmodules:\n", l.Revision)
	for _, m := range l.Modules {
		fmt.Fprintf(&b, "  - path: %s\n    version: %s\n    sum: %s\n    role: %s\n",
			scalar(m.Path), scalar(m.Version), scalar(m.Sum), scalar(m.Role))
	}
	return []byte(b.String()), nil
}

// scalar writes s plain when YAML reads it back as the same string, and quoted otherwise.
func scalar(s string) string {
	var n yaml.Node
	if s != "" && yaml.Unmarshal([]byte(s), &n) == nil && len(n.Content) == 1 {
		v := n.Content[0]
		if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Style == 0 && v.Value == s {
			return s
		}
	}
	return strconv.Quote(s)
}

// Write validates the lock and replaces the file at path atomically, so a failed write
// leaves the previous lock in place.
func (l *Lock) Write(path string) error {
	data, err := l.Marshal()
	if err != nil {
		return fmt.Errorf("%s: not written: %w", path, err)
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
