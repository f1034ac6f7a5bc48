// Package version holds the product's name and the version stamped into the binary at build time.
package version

import "strings"

// Program is the product's name: binary, data dir, config dir and version suffix derive from it.
const Program = "distro"

// Set at link time by the build (see release/build); the defaults mark an unstamped development build.
var (
	// Version is the full release version, vX.Y.Z+distroN.
	Version = "v0.0.0-dev+" + Program + "0"
	// GitCommit is the commit of this repository the binary was built from.
	GitCommit = "unknown"
	// UpstreamVersion is the Kubernetes version the binary was built from, vX.Y.Z.
	UpstreamVersion = "v0.0.0"
)

// Short returns the version without build metadata, as Kubernetes components compare it.
func Short() string {
	v, _, _ := strings.Cut(Version, "+")
	return v
}

// DataDir is the default data directory.
const DataDir = "/var/lib/" + Program

// ConfigDir is the default configuration directory.
const ConfigDir = "/etc/" + Program
