package containerd

import (
	"fmt"
	"path/filepath"

	"github.com/containerd/containerd/v2/plugins/snapshots/overlay/overlayutils"
	"golang.org/x/sys/unix"
)

// chooseSnapshotter returns overlayfs when a test mount of it works under root (the file system
// containerd's snapshots live on), native otherwise, and why.
func chooseSnapshotter(root string) (string, string) {
	dir := filepath.Join(root, "io.containerd.snapshotter.v1."+SnapshotterOverlayfs)
	if err := overlayutils.Supported(dir); err != nil {
		return SnapshotterNative, fmt.Sprintf("overlayfs is unusable under %s: %v", dir, err)
	}
	return SnapshotterOverlayfs, ""
}

// ensureLoopbackUp brings lo up when it is down, as it is in a fresh network namespace:
// containerd's CRI stream server listens on 127.0.0.1 and exits without it. It reports whether
// it had to.
func ensureLoopbackUp() (bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return false, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return false, fmt.Errorf("reading the flags of lo: %w", err)
	}
	flags := ifr.Uint16()
	if flags&unix.IFF_UP != 0 {
		return false, nil
	}
	ifr.SetUint16(flags | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return false, fmt.Errorf("bringing lo up: %w", err)
	}
	return true, nil
}
