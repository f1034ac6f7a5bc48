// Package containerd runs the node's containerd: the distro binary re-exec'd as containerd under
// a supervisor, with a config generated for the CRI plugin, its own socket and directories under
// the data dir, and the airgap image archives imported before the kubelet may rely on it.
package containerd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/distro-io/distro/distro/images"
)

// Snapshotter names accepted in Options.Snapshotter.
const (
	SnapshotterAuto      = ""
	SnapshotterOverlayfs = "overlayfs"
	SnapshotterNative    = "native"
)

// maxSocketPath is the longest unix socket path the kernel takes (108 bytes with the NUL),
// less the ".ttrpc" containerd appends for its second socket.
const maxSocketPath = 107 - len(".ttrpc")

// Options are the settings of the node's containerd; zero fields take the defaults below.
type Options struct {
	// DataDir is distro's data dir; everything of containerd's lives under <DataDir>/agent.
	DataDir string
	// BinDir holds runc, the runc shim and the CNI plugins (the unpacked payload). It goes first
	// on containerd's PATH, which is how containerd finds the shim and the shim finds runc, and
	// it is the CNI plugin dir.
	BinDir string
	// Executable is the distro binary, run as containerd; empty means the running executable.
	Executable string
	// Socket is containerd's gRPC socket; empty means <DataDir>/agent/containerd/containerd.sock.
	Socket string
	// SandboxImage is the pause image; empty means the one distro builds and imports.
	SandboxImage string
	// Snapshotter is overlayfs, native, or empty to use overlayfs where the root dir's file
	// system supports it and native elsewhere.
	Snapshotter string
	// Env is containerd's environment apart from PATH; nil means distro's own.
	Env []string
	// BuiltinArchives are image archives that ship with distro (the pause image in the payload),
	// imported before those of the images dir.
	BuiltinArchives []string
	// RegistryMirror is the node's registry mirror (host:port on loopback, plain HTTP), tried
	// before every registry; none when empty.
	RegistryMirror string
}

// Validate returns every problem of the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, errors.New("containerd: no data dir"))
	} else if !filepath.IsAbs(o.DataDir) {
		errs = append(errs, fmt.Errorf("containerd: data dir %q is not absolute", o.DataDir))
	}
	if o.BinDir == "" {
		errs = append(errs, errors.New("containerd: no bin dir with runc, the shim and the CNI plugins"))
	}
	switch o.Snapshotter {
	case SnapshotterAuto, SnapshotterOverlayfs, SnapshotterNative:
	default:
		errs = append(errs, fmt.Errorf("containerd: snapshotter %q is not one of overlayfs, native", o.Snapshotter))
	}
	if o.RegistryMirror != "" {
		if _, _, err := net.SplitHostPort(o.RegistryMirror); err != nil {
			errs = append(errs, fmt.Errorf("containerd: registry mirror %q is not host:port: %w", o.RegistryMirror, err))
		}
	}
	if s := o.socket(); len(s) > maxSocketPath {
		errs = append(errs, fmt.Errorf("containerd: socket path %s is %d bytes, longer than the %d a unix socket allows: choose a shorter data dir or socket", s, len(s), maxSocketPath))
	}
	return errors.Join(errs...)
}

func (o Options) socket() string {
	if o.Socket != "" {
		return o.Socket
	}
	return filepath.Join(o.DataDir, "agent", "containerd", "containerd.sock")
}

// Config is the complete configuration Run... accepts: every path decided.
type Config struct {
	Executable   string
	BinDir       string
	Socket       string
	SandboxImage string
	// Snapshotter is empty until Init has checked the root dir, unless the options chose one.
	Snapshotter string
	Env         []string

	// Dir holds containerd's root, state, log and pid file.
	Dir        string
	Root       string
	State      string
	ConfigFile string
	// HostsDir is containerd's registry config_path: a hosts.toml per registry host, and
	// _default/hosts.toml for all of them.
	HostsDir   string
	LogFile    string
	PidFile    string
	CNIConfDir string
	// ImagesDir holds the airgap archives imported at start.
	ImagesDir string
	// BuiltinArchives are imported before ImagesDir's.
	BuiltinArchives []string
	// ImportRecord remembers which archives were imported, so an unchanged one is not read again.
	ImportRecord string
	// RegistryMirror is the node's registry mirror, host:port; none when empty.
	RegistryMirror string
}

// Complete validates the options and decides every path.
func (o Options) Complete() (Config, error) {
	if err := o.Validate(); err != nil {
		return Config{}, err
	}
	exe := o.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return Config{}, fmt.Errorf("containerd: finding the distro executable: %w", err)
		}
	}
	agent := filepath.Join(o.DataDir, "agent")
	dir := filepath.Join(agent, "containerd")
	c := Config{
		Executable:   exe,
		BinDir:       o.BinDir,
		Socket:       o.socket(),
		SandboxImage: o.SandboxImage,
		Snapshotter:  o.Snapshotter,
		Env:          o.Env,
		Dir:          dir,
		Root:         filepath.Join(dir, "root"),
		State:        filepath.Join(dir, "state"),
		ConfigFile:   filepath.Join(agent, "etc", "containerd", "config.toml"),
		HostsDir:     filepath.Join(agent, "etc", "containerd", "certs.d"),
		LogFile:      filepath.Join(dir, "containerd.log"),
		PidFile:      filepath.Join(dir, "containerd.pid"),
		CNIConfDir:   filepath.Join(agent, "etc", "cni", "net.d"),
		ImagesDir:    filepath.Join(agent, "images"),
		ImportRecord: filepath.Join(dir, "imported.json"),

		BuiltinArchives: o.BuiltinArchives,
		RegistryMirror:  o.RegistryMirror,
	}
	if c.SandboxImage == "" {
		c.SandboxImage = images.Pause
	}
	return c, nil
}
