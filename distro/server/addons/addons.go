// Package addons writes the manifests distro owns (the cluster DNS) into the auto-deploy
// directory, <data-dir>/server/manifests, where the manifests deployer applies them.
//
// An addon's file is rewritten at every server start, so an upgrade or a changed flag reaches
// the cluster and a hand edit does not survive. A person who wants to keep their own version
// creates <name>.skip beside it (coredns.yaml.skip for coredns.yaml): the file is then never
// written, whatever it holds or whether it exists.
package addons

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/distro-io/distro/distro/images"
	"github.com/distro-io/distro/distro/version"
)

// CoreDNSFile is the cluster DNS manifest's name in the manifests directory.
const CoreDNSFile = "coredns.yaml"

// SkipSuffix marks an addon the server must not write: <file><SkipSuffix>.
const SkipSuffix = ".skip"

// DefaultClusterDomain is used when CoreDNSParams.ClusterDomain is empty.
const DefaultClusterDomain = "cluster.local"

// dnsServiceOffset: the DNS service takes the 10th address of the service network, where
// kubeadm and K3s put it and where kubelets elsewhere expect it.
const dnsServiceOffset = 10

// CoreDNSParams are the cluster settings the CoreDNS manifest depends on.
type CoreDNSParams struct {
	// ServiceCIDR is the service network (--service-cidr); the kube-dns Service gets its
	// ClusterDNSIP.
	ServiceCIDR string
	// ClusterDomain is served by the kubernetes plugin; DefaultClusterDomain when empty.
	ClusterDomain string
	// Image is the CoreDNS image; distro/images.CoreDNS (shipped in the airgap archive) when
	// empty.
	Image string
}

//go:embed coredns.yaml.tmpl
var coreDNSTemplate string

var coreDNS = template.Must(template.New(CoreDNSFile).Option("missingkey=error").Funcs(template.FuncMap{
	// json quotes a string for YAML: a JSON string is a YAML double-quoted scalar.
	"json": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	},
}).Parse(coreDNSTemplate))

// ClusterDNSIP is the cluster DNS service's address: the 10th address of the service network
// (10.43.0.10 for 10.43.0.0/16). The kubelet's clusterDNS must be the same address.
func ClusterDNSIP(serviceCIDR string) (net.IP, error) {
	prefix, err := netip.ParsePrefix(strings.TrimSpace(serviceCIDR))
	if err != nil {
		return nil, fmt.Errorf("service CIDR %q: %w", serviceCIDR, err)
	}
	prefix = prefix.Masked()
	ip := prefix.Addr()
	for range dnsServiceOffset {
		ip = ip.Next()
	}
	// An IPv4 network's last address is its broadcast address, never a service's.
	if !ip.IsValid() || !prefix.Contains(ip) || ip.Is4() && !prefix.Contains(ip.Next()) {
		return nil, fmt.Errorf("service CIDR %s is too small to hold the cluster DNS address (its %dth)", prefix, dnsServiceOffset)
	}
	return net.IP(ip.AsSlice()), nil
}

// CoreDNSManifest renders the cluster DNS: CoreDNS's ServiceAccount, ClusterRole and binding,
// its Corefile, its Deployment and the kube-dns Service at ClusterDNSIP.
func CoreDNSManifest(p CoreDNSParams) ([]byte, error) {
	if p.ClusterDomain == "" {
		p.ClusterDomain = DefaultClusterDomain
	}
	if p.Image == "" {
		p.Image = images.CoreDNS
	}
	var errs []error
	if msgs := validation.IsDNS1123Subdomain(p.ClusterDomain); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("cluster domain %q: %s", p.ClusterDomain, strings.Join(msgs, "; ")))
	}
	ip, err := ClusterDNSIP(p.ServiceCIDR)
	if err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(p.Image) != p.Image || strings.ContainsAny(p.Image, " \t\r\n") {
		errs = append(errs, fmt.Errorf("CoreDNS image %q: not an image reference", p.Image))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("CoreDNS manifest: %w", err)
	}
	var buf bytes.Buffer
	err = coreDNS.Execute(&buf, map[string]any{
		"Program":       version.Program,
		"ClusterDomain": p.ClusterDomain,
		"ClusterIP":     ip.String(),
		"Image":         p.Image,
		"UID":           images.CoreDNSUID,
	})
	if err != nil {
		return nil, fmt.Errorf("CoreDNS manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteCoreDNS writes CoreDNSFile into dir, the manifests directory (created 0700 when
// missing), unless coredns.yaml.skip is there. Called at every server start.
func WriteCoreDNS(dir string, p CoreDNSParams) error {
	data, err := CoreDNSManifest(p)
	if err != nil {
		return err
	}
	return write(dir, CoreDNSFile, data)
}

// write replaces dir/name with data in one rename, so the deployer never reads half a file;
// an unchanged file is left alone.
func write(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	switch _, err := os.Lstat(path + SkipSuffix); {
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// ControllerRBACFile is the node controllers' role and binding in the manifests directory.
const ControllerRBACFile = "rbac-controller.yaml"

//go:embed controller-rbac.yaml.tmpl
var controllerRBACTemplate string

var controllerRBAC = template.Must(template.New(ControllerRBACFile).Option("missingkey=error").Parse(controllerRBACTemplate))

// WriteControllerRBAC writes the role of the node controllers' identity (pki.ControllerUser)
// into dir, unless rbac-controller.yaml.skip is there.
func WriteControllerRBAC(dir, user string) error {
	var buf bytes.Buffer
	if err := controllerRBAC.Execute(&buf, map[string]string{"User": user}); err != nil {
		return err
	}
	return write(dir, ControllerRBACFile, buf.Bytes())
}
