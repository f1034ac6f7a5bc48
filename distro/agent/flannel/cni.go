package flannel

import (
	"encoding/json"
	"net"
	"path/filepath"

	"github.com/distro-io/distro/distro/pki/atomicfile"
	"github.com/distro-io/distro/distro/version"
)

// CNIConfigFile is the network configuration distro writes into the CNI config dir.
const CNIConfigFile = "10-" + version.Program + ".conflist"

// Bridge is the node's pod bridge.
const Bridge = "cni0"

// WriteCNIConfig writes the CNI network the pods of this node join: a bridge acting as their
// gateway in the node's pod subnet (host-local addresses, leases kept in dataDir), hairpin on so
// a pod reaches itself through a Service, and port mapping and bandwidth shaping for hostPort
// and the bandwidth annotations. Traffic leaving the subnet is routed by flannel.
func WriteCNIConfig(confDir, dataDir string, podSubnet *net.IPNet, mtu int) error {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       version.Program,
		"plugins": []map[string]any{
			{
				"type":             "bridge",
				"bridge":           Bridge,
				"isGateway":        true,
				"isDefaultGateway": true,
				"ipMasq":           false,
				"hairpinMode":      true,
				"mtu":              mtu,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": dataDir,
					"ranges":  [][]map[string]string{{{"subnet": podSubnet.String()}}},
				},
			},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			{"type": "bandwidth", "capabilities": map[string]bool{"bandwidth": true}},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(confDir, CNIConfigFile), append(data, '\n'), 0o644)
}
