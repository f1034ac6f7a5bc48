package kubeproxy

import (
	"strings"
	"testing"

	kubeproxyconfig "k8s.io/kubernetes/pkg/proxy/apis/config"
	proxyscheme "k8s.io/kubernetes/pkg/proxy/apis/config/scheme"
	"k8s.io/kubernetes/pkg/proxy/apis/config/validation"
)

func TestRenderIsValidAndLeavesTheKernelAlone(t *testing.T) {
	for _, mode := range []string{"", ModeNFTables} {
		c := Config{NodeName: "node-a", ConfigDir: "/etc/x", Kubeconfig: "/k/kube-proxy.kubeconfig", ClusterCIDR: "10.42.0.0/16", Mode: mode}
		p, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		data, err := p.cfg.Render()
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := proxyscheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
		if err != nil {
			t.Fatalf("kube-proxy cannot read the file: %v\n%s", err, data)
		}
		pc := obj.(*kubeproxyconfig.KubeProxyConfiguration)
		if errs := validation.Validate(pc); len(errs) > 0 {
			t.Fatalf("kube-proxy refuses the file: %v\n%s", errs.ToAggregate(), data)
		}
		want := ModeIPTables
		if mode != "" {
			want = mode
		}
		if string(pc.Mode) != want || pc.HostnameOverride != "node-a" || pc.ClientConnection.Kubeconfig != "/k/kube-proxy.kubeconfig" {
			t.Errorf("mode %s host %s kubeconfig %s", pc.Mode, pc.HostnameOverride, pc.ClientConnection.Kubeconfig)
		}
		if *pc.Linux.Conntrack.MaxPerCore != 0 || *pc.Linux.Conntrack.Min != 0 {
			t.Errorf("conntrack max per core %d min %d: want the kernel's table left alone", *pc.Linux.Conntrack.MaxPerCore, *pc.Linux.Conntrack.Min)
		}
		if !strings.HasPrefix(pc.HealthzBindAddress, "127.0.0.1:") || !strings.HasPrefix(pc.MetricsBindAddress, "127.0.0.1:") {
			t.Errorf("health %s metrics %s: want loopback", pc.HealthzBindAddress, pc.MetricsBindAddress)
		}
	}
	if _, err := New(Config{NodeName: "a", Kubeconfig: "k", Mode: "ipvs"}); err == nil || !strings.Contains(err.Error(), "ipvs") {
		t.Errorf("ipvs mode: %v", err)
	}
}
