package flannel

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCNIConfigPutsPodsOnABridgeInTheLease(t *testing.T) {
	dir := t.TempDir()
	_, subnet, _ := net.ParseCIDR("10.42.3.0/24")
	if err := WriteCNIConfig(dir, "/var/lib/distro/agent/cni/networks", subnet, 1450); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, CNIConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Plugins    []struct {
			Type        string `json:"type"`
			Bridge      string `json:"bridge"`
			MTU         int    `json:"mtu"`
			HairpinMode bool   `json:"hairpinMode"`
			IPAM        struct {
				Type    string                `json:"type"`
				DataDir string                `json:"dataDir"`
				Ranges  [][]map[string]string `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	var types []string
	for _, p := range conf.Plugins {
		types = append(types, p.Type)
	}
	if got := strings.Join(types, ","); got != "bridge,portmap,bandwidth" {
		t.Fatalf("plugins %s", got)
	}
	b := conf.Plugins[0]
	if b.Bridge != Bridge || b.MTU != 1450 || !b.HairpinMode || b.IPAM.Type != "host-local" || b.IPAM.Ranges[0][0]["subnet"] != "10.42.3.0/24" || b.IPAM.DataDir == "" {
		t.Errorf("bridge plugin: %+v", b)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	err := Config{ClusterCIDR: "fd00::/64", Backend: "udp"}.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"node name", "fd00::/64", `"udp"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %s", err, want)
		}
	}
	ok := Config{NodeName: "a", NodeIP: net.ParseIP("192.0.2.1"), Kubeconfig: "k", ClusterCIDR: "10.42.0.0/16", Backend: BackendHostGW}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
}
