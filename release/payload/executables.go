package payload

// Module paths of the upstream modules built here; upstream.lock pins them with role payload.
const (
	ContainerdModule = "github.com/containerd/containerd/v2"
	RuncModule       = "github.com/opencontainers/runc"
	CNIModule        = "github.com/containernetworking/plugins"
)

// Executable is one program built from an upstream module.
type Executable struct {
	// Name is the file name in bin/.
	Name string
	// Package is the main package, relative to the module root.
	Package string
}

// moduleBuild says how the executables of one module are built, the way the module's own
// release build does it.
type moduleBuild struct {
	Module      string
	Executables []Executable
	CGO         bool
	Tags        []string
	// VersionFlags stamps the module version into the executables.
	VersionFlags func(version string) []string
	// ExtLDFlags are passed to the external (C) linker.
	ExtLDFlags string
}

// builds is the one list of what goes into the payload besides the distro binary.
var builds = []moduleBuild{
	{
		// containerd itself is linked into distro; its runc shim is a small program of its
		// own because containerd starts one per pod, and each would otherwise map and
		// initialise the whole Kubernetes binary.
		Module:      ContainerdModule,
		Executables: []Executable{{Name: "containerd-shim-runc-v2", Package: "./cmd/containerd-shim-runc-v2"}},
		Tags:        []string{"urfave_cli_no_docs"},
		VersionFlags: func(v string) []string {
			return []string{"-X", "github.com/containerd/containerd/v2/version.Version=" + v}
		},
	},
	{
		Module:      RuncModule,
		Executables: []Executable{{Name: "runc", Package: "."}},
		// cgo for nsenter and libseccomp. The Makefile's libpathrs tag needs a Rust library
		// Debian does not ship; runc falls back to its Go implementation without it.
		CGO:  true,
		Tags: []string{"seccomp", "urfave_cli_no_docs", "netgo", "osusergo"},
		// The version comes from the module's VERSION file (embedded); the Makefile adds only
		// the git commit, which a module zip does not have.
		VersionFlags: func(string) []string { return nil },
		ExtLDFlags:   "-static",
	},
	{
		Module: CNIModule,
		Executables: []Executable{
			// Pod interfaces on a Linux bridge: the plugin a bridge or flannel network delegates to.
			{Name: "bridge", Package: "./plugins/main/bridge"},
			// Pod IP addresses from the node's pod CIDR.
			{Name: "host-local", Package: "./plugins/ipam/host-local"},
			// The lo interface of every pod.
			{Name: "loopback", Package: "./plugins/main/loopback"},
			// hostPort mappings.
			{Name: "portmap", Package: "./plugins/meta/portmap"},
			// kubernetes.io/ingress-bandwidth and egress-bandwidth pod annotations.
			{Name: "bandwidth", Package: "./plugins/meta/bandwidth"},
			// Accepts pod traffic in the host firewall when its FORWARD policy drops.
			{Name: "firewall", Package: "./plugins/meta/firewall"},
		},
		VersionFlags: func(v string) []string {
			return []string{"-X", "github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=" + v}
		},
	},
}

// Executables lists every executable BuildExecutables produces, by module.
func Executables() map[string][]Executable {
	m := map[string][]Executable{}
	for _, b := range builds {
		m[b.Module] = append([]Executable(nil), b.Executables...)
	}
	return m
}
