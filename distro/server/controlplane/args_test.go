package controlplane

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/distro-io/distro/distro/hosted"
	"github.com/distro-io/distro/distro/pki"
)

func testConfig() *Config {
	return &Config{
		DataDir: "/var/lib/distro/server", PKI: pki.NewLayout("/var/lib/distro"),
		EtcdServers: "unix:///var/lib/distro/server/kine.sock", EncryptionConfig: "/enc.json",
		AdvertiseAddress: net.ParseIP("192.0.2.2"), BindAddress: "0.0.0.0", HTTPSPort: 6443,
		ServiceCIDR: "10.43.0.0/16", ClusterCIDR: "10.42.0.0/16", ClusterDomain: "cluster.local",
		NodePortRange: "30000-32767",
	}
}

func has(args []string, want string) bool {
	for _, a := range args {
		if a == want {
			return true
		}
	}
	return false
}

func TestSecureDefaults(t *testing.T) {
	args, err := testConfig().APIServerArgs()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--anonymous-auth=false",
		"--tls-min-version=VersionTLS12",
		"--profiling=false",
		"--encryption-provider-config=/enc.json",
		"--etcd-servers=unix:///var/lib/distro/server/kine.sock",
		"--kubelet-certificate-authority=/var/lib/distro/server/tls/server-ca.crt",
	} {
		if !has(args, want) {
			t.Errorf("kube-apiserver lacks %s", want)
		}
	}
	for name, f := range map[string]func() ([]string, error){
		"kube-controller-manager": testConfig().ControllerManagerArgs,
		"kube-scheduler":          testConfig().SchedulerArgs,
	} {
		args, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if !has(args, "--bind-address=127.0.0.1") || !has(args, "--profiling=false") {
			t.Errorf("%s is not bound to loopback without profiling: %v", name, args)
		}
	}
}

func TestStreamingListsOnlyOnEtcd(t *testing.T) {
	const gates = "--feature-gates=WatchList=false,WatchListClient=false"
	kine := testConfig()
	kine.KineStorage = true
	args, err := kine.APIServerArgs()
	if err != nil {
		t.Fatal(err)
	}
	if !has(args, gates) {
		t.Errorf("kube-apiserver on kine lacks %s: %v", gates, args)
	}
	args, err = testConfig().APIServerArgs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range args {
		if strings.HasPrefix(a, "--feature-gates=") {
			t.Errorf("kube-apiserver on etcd has %s", a)
		}
	}
}

func TestExtraArgs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		want  []string
		lacks []string
		err   string
	}{
		{name: "override", extra: []string{"profiling=true"}, want: []string{"--profiling=true"}, lacks: []string{"--profiling=false"}},
		{name: "dashes accepted", extra: []string{"--v=2"}, want: []string{"--v=2"}},
		{name: "new flag", extra: []string{"audit-log-path=/var/log/audit.log"}, want: []string{"--audit-log-path=/var/log/audit.log"}},
		{name: "drop a default", extra: []string{"-profiling"}, lacks: []string{"--profiling=false"}},
		{name: "value with =", extra: []string{"feature-gates=A=true,B=false"}, want: []string{"--feature-gates=A=true,B=false"}},
		{name: "no value", extra: []string{"profiling"}, err: `extra-apiserver-arg "profiling": expected flag=value`},
		{name: "empty name", extra: []string{"=x"}, err: "expected flag=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			c.ExtraAPIServerArgs = tc.extra
			args, err := c.APIServerArgs()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !has(args, w) {
					t.Errorf("args lack %s", w)
				}
			}
			for _, l := range tc.lacks {
				if has(args, l) {
					t.Errorf("args still hold %s", l)
				}
			}
		})
	}
}

func TestHealthCheckFollowsSecurePortOverride(t *testing.T) {
	c := testConfig()
	c.ExtraControllerManagerArgs = []string{"secure-port=10357"}
	args, err := c.ControllerManagerArgs()
	if err != nil {
		t.Fatal(err)
	}
	if p := hosted.FlagValue(args, "secure-port", "x"); p != "10357" {
		t.Errorf("health check port %s, want the overridden 10357", p)
	}
	args, _ = testConfig().SchedulerArgs()
	if p := hosted.FlagValue(args, "secure-port", "x"); p != fmt.Sprint(SchedulerPort) {
		t.Errorf("default scheduler health port %s, want %d", p, SchedulerPort)
	}
}
