package kubelet

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletscheme "k8s.io/kubernetes/pkg/kubelet/apis/config/scheme"
	"k8s.io/kubernetes/pkg/kubelet/apis/config/validation"
)

func testConfig() Config {
	return Config{
		NodeName: "node-a", NodeIPs: []net.IP{net.ParseIP("192.0.2.10")},
		Dir: "/var/lib/distro/agent/kubelet", ConfigDir: "/var/lib/distro/agent/etc",
		Kubeconfig: "/k/kubelet.kubeconfig", ClientCAFile: "/k/client-ca.crt",
		ServingCert: "/k/serving.crt", ServingKey: "/k/serving.key",
		RuntimeSocket: "/run/c.sock", ClusterDNS: net.ParseIP("10.43.0.10"), ClusterDomain: "cluster.local",
		CgroupRoot: "/", ResolvConf: "/etc/resolv.conf",
	}
}

// decode reads the rendered file the way the kubelet does: defaults applied, then validated
// (when validate: the validation looks at the host's cgroups).
func decode(t *testing.T, data []byte, validate bool) *kubeletconfig.KubeletConfiguration {
	t.Helper()
	_, codecs, err := kubeletscheme.NewSchemeAndCodecs()
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("the kubelet cannot read the file: %v\n%s", err, data)
	}
	kc := obj.(*kubeletconfig.KubeletConfiguration)
	if !validate {
		return kc
	}
	if err := validation.ValidateKubeletConfiguration(kc, utilfeature.DefaultFeatureGate); err != nil {
		t.Fatalf("the kubelet refuses the file: %v\n%s", err, data)
	}
	return kc
}

func TestRenderIsSecureAndValid(t *testing.T) {
	for _, v1 := range []bool{false, true} {
		data, err := testConfig().Render(v1)
		if err != nil {
			t.Fatal(err)
		}
		// The rendering for this host must pass the kubelet's validation.
		kc := decode(t, data, v1 == !cgroups.IsCgroup2UnifiedMode())
		if kc.Address != "127.0.0.1" || kc.ReadOnlyPort != 0 || kc.HealthzBindAddress != "127.0.0.1" {
			t.Errorf("listens on %s (read-only port %d, healthz %s), want loopback only", kc.Address, kc.ReadOnlyPort, kc.HealthzBindAddress)
		}
		if kc.Authentication.Anonymous.Enabled || kc.Authorization.Mode != kubeletconfig.KubeletAuthorizationModeWebhook {
			t.Errorf("anonymous %v, authorization %s: want no anonymous access and webhook authorization", kc.Authentication.Anonymous.Enabled, kc.Authorization.Mode)
		}
		if kc.Authentication.X509.ClientCAFile != "/k/client-ca.crt" || kc.TLSCertFile != "/k/serving.crt" || kc.TLSMinVersion != "VersionTLS12" {
			t.Errorf("TLS settings: %+v %s %s", kc.Authentication.X509, kc.TLSCertFile, kc.TLSMinVersion)
		}
		if !slices.Equal(kc.ClusterDNS, []string{"10.43.0.10"}) || kc.ContainerRuntimeEndpoint != "unix:///run/c.sock" || kc.CgroupDriver != "cgroupfs" {
			t.Errorf("cluster DNS %v, runtime %s, cgroup driver %s", kc.ClusterDNS, kc.ContainerRuntimeEndpoint, kc.CgroupDriver)
		}
		if kc.OOMScoreAdj != 0 {
			t.Errorf("oomScoreAdj %d: a negative one fails without CAP_SYS_RESOURCE", kc.OOMScoreAdj)
		}
		if kc.FailCgroupV1 == v1 {
			t.Errorf("cgroup v1 host %v: failCgroupV1 = %v", v1, kc.FailCgroupV1)
		}
	}
}

func TestArgsApplyOverridesAndFollowCgroupRoot(t *testing.T) {
	c := testConfig()
	c.ExtraArgs = []string{"cgroup-root=/distro-node-a", "v=2"}
	k, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(k.Args(), " ")
	for _, want := range []string{"--config=/var/lib/distro/agent/etc/kubelet.yaml", "--hostname-override=node-a", "--node-ip=192.0.2.10", "--cgroup-root=/distro-node-a", "--v=2"} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %s: %s", want, args)
		}
	}
	if k.cfg.CgroupRoot != "/distro-node-a" {
		t.Errorf("cgroup root to create is %q, want the overridden /distro-node-a", k.cfg.CgroupRoot)
	}
	c.NodeName = ""
	if _, err := New(c); err == nil {
		t.Error("a kubelet without a node name was accepted")
	}
	c = testConfig()
	c.ExtraArgs = []string{"no-value"}
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "kubelet-arg") {
		t.Errorf("a malformed --kubelet-arg: %v", err)
	}
}
