package addons

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/distro-io/distro/distro/images"
	"github.com/distro-io/distro/distro/server/manifests"
)

func TestClusterDNSIP(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.43.0.0/16":     "10.43.0.10",
		"10.43.7.9/16":     "10.43.0.10", // host bits are ignored, as the apiserver does
		"192.168.100.0/28": "192.168.100.10",
		"172.16.0.0/12":    "172.16.0.10",
		"fd00:43::/112":    "fd00:43::a",
		" 10.96.0.0/12 ":   "10.96.0.10",
	} {
		ip, err := ClusterDNSIP(cidr)
		if err != nil || ip.String() != want {
			t.Errorf("ClusterDNSIP(%q) = %v, %v; want %s", cidr, ip, err, want)
		}
	}
	for _, cidr := range []string{"", "10.43.0.0", "10.43.0.0/33", "10.43.0.0/29", "10.43.0.8/30", "fd00::/125", "255.255.255.248/29"} {
		if ip, err := ClusterDNSIP(cidr); err == nil {
			t.Errorf("ClusterDNSIP(%q) = %v, want an error", cidr, ip)
		}
	}
}

// objects renders the manifest, reads it with the deployer's parser and converts each object
// into its API type, refusing any field the type does not have.
type objects struct {
	sa         corev1.ServiceAccount
	role       rbacv1.ClusterRole
	binding    rbacv1.ClusterRoleBinding
	config     corev1.ConfigMap
	deployment appsv1.Deployment
	service    corev1.Service
}

func render(t *testing.T, p CoreDNSParams) objects {
	t.Helper()
	data, err := CoreDNSManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := manifests.Parse(CoreDNSFile, data)
	if err != nil {
		t.Fatalf("the deployer cannot read the manifest: %v\n%s", err, data)
	}
	var o objects
	into := []struct {
		apiVersion, kind, namespace, name string
		typed                             any
	}{
		{"v1", "ServiceAccount", "kube-system", "coredns", &o.sa},
		{"rbac.authorization.k8s.io/v1", "ClusterRole", "", "system:coredns", &o.role},
		{"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "system:coredns", &o.binding},
		{"v1", "ConfigMap", "kube-system", "coredns", &o.config},
		{"apps/v1", "Deployment", "kube-system", "coredns", &o.deployment},
		{"v1", "Service", "kube-system", "kube-dns", &o.service},
	}
	if len(docs) != len(into) {
		t.Fatalf("%d objects, want %d", len(docs), len(into))
	}
	for i, want := range into {
		obj := docs[i].Object
		if obj.GetAPIVersion() != want.apiVersion || obj.GetKind() != want.kind || obj.GetNamespace() != want.namespace || obj.GetName() != want.name {
			t.Fatalf("object %d is %s %s %s/%s, want %s %s %s/%s", i+1, obj.GetAPIVersion(), obj.GetKind(), obj.GetNamespace(), obj.GetName(),
				want.apiVersion, want.kind, want.namespace, want.name)
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, want.typed, true); err != nil {
			t.Fatalf("%s %s: %v", want.kind, want.name, err)
		}
	}
	return o
}

func TestCoreDNSManifestDefaults(t *testing.T) {
	o := render(t, CoreDNSParams{ServiceCIDR: "10.43.0.0/16"})

	if o.service.Spec.ClusterIP != "10.43.0.10" {
		t.Errorf("kube-dns clusterIP %s, want 10.43.0.10", o.service.Spec.ClusterIP)
	}
	var ports []string
	for _, p := range o.service.Spec.Ports {
		ports = append(ports, string(p.Protocol)+"/"+p.TargetPort.String())
	}
	if want := []string{"UDP/53", "TCP/53", "TCP/9153"}; !slices.Equal(ports, want) {
		t.Errorf("service ports %v, want %v", ports, want)
	}
	if o.service.Spec.Selector["k8s-app"] != "kube-dns" || o.deployment.Spec.Template.Labels["k8s-app"] != "kube-dns" {
		t.Error("the Service does not select the Deployment's pods")
	}

	// The kubernetes plugin lists and watches these, and is given nothing more.
	var rules []string
	for _, r := range o.role.Rules {
		for _, res := range r.Resources {
			rules = append(rules, r.APIGroups[0]+"/"+res+":"+strings.Join(r.Verbs, ","))
		}
	}
	if want := []string{"/services:list,watch", "/pods:list,watch", "/namespaces:list,watch", "discovery.k8s.io/endpointslices:list,watch"}; !slices.Equal(rules, want) {
		t.Errorf("ClusterRole rules %v, want %v", rules, want)
	}
	if s := o.binding.Subjects; len(s) != 1 || s[0].Kind != "ServiceAccount" || s[0].Namespace != "kube-system" || s[0].Name != o.sa.Name || o.binding.RoleRef.Name != o.role.Name {
		t.Errorf("binding %+v does not give the ClusterRole to the ServiceAccount", o.binding)
	}

	corefile := o.config.Data["Corefile"]
	for _, want := range []string{"errors\n", "health {", "ready\n", "kubernetes cluster.local in-addr.arpa ip6.arpa {", "pods insecure\n", "fallthrough in-addr.arpa ip6.arpa\n",
		"prometheus :9153\n", "forward . /etc/resolv.conf\n", "cache 30\n", "loop\n", "reload\n", "loadbalance\n"} {
		if !strings.Contains(corefile, want) {
			t.Errorf("Corefile lacks %q:\n%s", want, corefile)
		}
	}

	d := o.deployment.Spec
	if d.Replicas == nil || *d.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Replicas)
	}
	pod := d.Template.Spec
	if pod.ServiceAccountName != o.sa.Name || pod.PriorityClassName != "system-cluster-critical" || pod.DNSPolicy != corev1.DNSDefault {
		t.Errorf("pod spec: serviceAccount %q, priority %q, dnsPolicy %q", pod.ServiceAccountName, pod.PriorityClassName, pod.DNSPolicy)
	}
	var tolerated []string
	for _, tol := range pod.Tolerations {
		tolerated = append(tolerated, tol.Key)
	}
	for _, key := range []string{"CriticalAddonsOnly", "node-role.kubernetes.io/control-plane"} {
		if !slices.Contains(tolerated, key) {
			t.Errorf("the pod does not tolerate %s: %v", key, tolerated)
		}
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != images.CoreDNS || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s (%s), want %s IfNotPresent: the one the airgap archive holds", c.Image, c.ImagePullPolicy, images.CoreDNS)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/ready" || p.HTTPGet.Port.IntValue() != 8181 {
		t.Errorf("readiness probe %+v, want GET :8181/ready", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/health" || p.HTTPGet.Port.IntValue() != 8080 {
		t.Errorf("liveness probe %+v, want GET :8080/health", p)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("container may run as root")
	case sc.RunAsUser == nil || *sc.RunAsUser != images.CoreDNSUID:
		t.Errorf("runAsUser %v, want the image's %d", sc.RunAsUser, images.CoreDNSUID)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation allowed")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Add, []corev1.Capability{"NET_BIND_SERVICE"}) || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("capabilities %+v, want NET_BIND_SERVICE alone", sc.Capabilities)
	}
	if len(c.Args) != 2 || c.Args[1] != "/etc/coredns/Corefile" || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/etc/coredns" {
		t.Errorf("the Corefile is not where -conf points: args %v, mounts %+v", c.Args, c.VolumeMounts)
	}
	if v := pod.Volumes; len(v) != 1 || v[0].ConfigMap == nil || v[0].ConfigMap.Name != o.config.Name {
		t.Errorf("volumes %+v do not mount the ConfigMap", v)
	}
}

func TestCoreDNSManifestFollowsTheFlags(t *testing.T) {
	o := render(t, CoreDNSParams{ServiceCIDR: "192.168.128.0/20", ClusterDomain: "k8s.example.internal", Image: "registry.example/dns:1"})
	if o.service.Spec.ClusterIP != "192.168.128.10" {
		t.Errorf("clusterIP %s, want 192.168.128.10", o.service.Spec.ClusterIP)
	}
	if !strings.Contains(o.config.Data["Corefile"], "kubernetes k8s.example.internal in-addr.arpa ip6.arpa {") {
		t.Errorf("Corefile does not serve the cluster domain:\n%s", o.config.Data["Corefile"])
	}
	if img := o.deployment.Spec.Template.Spec.Containers[0].Image; img != "registry.example/dns:1" {
		t.Errorf("image %s", img)
	}
}

func TestCoreDNSManifestRefusesBadParams(t *testing.T) {
	_, err := CoreDNSManifest(CoreDNSParams{ServiceCIDR: "10.43.0.0/30", ClusterDomain: "Not_A Domain", Image: "x\ny"})
	if err == nil {
		t.Fatal("bad parameters accepted")
	}
	for _, want := range []string{"10.43.0.0/30 is too small", `cluster domain "Not_A Domain"`, `CoreDNS image "x\ny"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestWriteCoreDNS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "server", "manifests")
	path := filepath.Join(dir, CoreDNSFile)
	p := CoreDNSParams{ServiceCIDR: "10.43.0.0/16"}
	want, err := CoreDNSManifest(p)
	if err != nil {
		t.Fatal(err)
	}

	// First start: the directory does not exist yet.
	if err := WriteCoreDNS(dir, p); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != string(want) {
		t.Fatalf("after the first write: %v\n%s", err, got)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("manifests dir %v (%v), want mode 0700", st.Mode(), err)
	}

	// A hand edit is undone at the next start.
	if err := os.WriteFile(path, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteCoreDNS(dir, p); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(want) {
		t.Errorf("the edited file was not rewritten:\n%s", got)
	}

	// With coredns.yaml.skip, the user's file stays, and a removed one is not put back.
	if err := os.WriteFile(path+".skip", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteCoreDNS(dir, CoreDNSParams{ServiceCIDR: "10.44.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "# mine\n" {
		t.Errorf("coredns.yaml.skip was ignored:\n%s", got)
	}
	os.Remove(path)
	if err := WriteCoreDNS(dir, p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("coredns.yaml written despite coredns.yaml.skip: %v", err)
	}

	// Nothing but the manifest and the marker: no temporary files left for the deployer.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != CoreDNSFile+".skip" {
		t.Errorf("manifests dir holds %v", entries)
	}

	// Bad parameters write nothing.
	other := t.TempDir()
	if err := WriteCoreDNS(other, CoreDNSParams{ServiceCIDR: "bad"}); err == nil {
		t.Error("a bad service CIDR was accepted")
	}
	if entries, _ := os.ReadDir(other); len(entries) != 0 {
		t.Errorf("a refused write left %v", entries)
	}
}
