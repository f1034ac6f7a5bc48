package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/distro-io/distro/distro/version"
)

// NodeName is name when given, else the host name in lower case, checked to be a valid node name.
func NodeName(name string) (string, error) {
	if name == "" {
		host, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("node-name: none given and the host name is unknown: %w", err)
		}
		name = strings.ToLower(host)
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return "", fmt.Errorf("node-name %q: %s; set --node-name", name, strings.Join(msgs, "; "))
	}
	return name, nil
}

// PayloadBinDir is the dir of the unpacked payload the running binary came from: the launcher
// runs the real binary from there, next to runc, the shim and the CNI plugins.
func PayloadBinDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(exe)
	if _, err := os.Stat(filepath.Join(dir, "runc")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("running a node needs runc and the CNI plugins next to %s: run the release file (dist/%s), which unpacks them, or pass --disable-agent", exe, version.Program)
		}
		return "", err
	}
	return dir, nil
}

// DefaultRouteIP is the first IPv4 address of the interface that holds the default
// route (/proc/net/route), or of the first interface that is up when there is none.
func DefaultRouteIP() (net.IP, error) {
	name := ""
	if data, err := os.ReadFile("/proc/net/route"); err == nil {
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 2 && f[1] == "00000000" {
				name = f[0]
				break
			}
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 || (name != "" && iface.Name != name) {
			continue
		}
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP, nil
			}
		}
	}
	return nil, errors.New("no interface with an IPv4 address is up")
}
