// Package pki creates the server's certificate authorities, certificates, service-account key
// and kubeconfigs on first start and keeps them on later starts. Existing valid files are never
// rewritten; a leaf certificate is reissued only when it is missing, expires within RenewBefore,
// is no longer signed by its CA, or no longer covers the names it must cover. Every decision is
// recorded in a Report.
//
// Use: fill Options, call Validate, Complete, then Config.Run.
package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/distro-io/distro/distro/version"
)

// Options are the inputs of the PKI, as the server's flags give them.
type Options struct {
	// DataDir holds server/tls and server/cred.
	DataDir string
	// TLSSANs are extra names and addresses of the apiserver (--tls-san).
	TLSSANs []string
	// Hostname is the node's host name; the system's host name when empty.
	Hostname string
	// NodeIPs are the node's addresses.
	NodeIPs []string
	// ServiceCIDRs are the service networks; the first address of each is the
	// kubernetes.default service's ClusterIP.
	ServiceCIDRs []string
	// ClusterDomain is the cluster's DNS domain, "cluster.local" when empty.
	ClusterDomain string
	// AdminKubeconfig is where the admin kubeconfig goes, DefaultAdminKubeconfig when empty.
	AdminKubeconfig string
	// ServerURL is the apiserver address written into the kubeconfigs.
	ServerURL string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// DefaultAdminKubeconfig is /etc/<program>/<program>.yaml.
var DefaultAdminKubeconfig = filepath.Join(version.ConfigDir, version.Program+".yaml")

// Defaults for empty options.
const (
	DefaultClusterDomain = "cluster.local"
	DefaultServerURL     = "https://127.0.0.1:6443"
)

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, errors.New("data directory is empty"))
	}
	for _, san := range o.TLSSANs {
		if net.ParseIP(san) != nil {
			continue
		}
		if msgs := validateDNSName(san); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("tls-san %q is neither an IP address nor a DNS name: %s", san, strings.Join(msgs, "; ")))
		}
	}
	if o.Hostname != "" {
		if msgs := validation.IsDNS1123Subdomain(o.Hostname); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("hostname %q is not a DNS name: %s", o.Hostname, strings.Join(msgs, "; ")))
		}
	}
	for _, ip := range o.NodeIPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("node IP %q is not an IP address", ip))
		}
	}
	if len(o.ServiceCIDRs) == 0 {
		errs = append(errs, errors.New("no service CIDR given"))
	}
	for _, cidr := range o.ServiceCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			errs = append(errs, fmt.Errorf("service CIDR %q: %w", cidr, err))
		}
	}
	if o.ClusterDomain != "" {
		if msgs := validation.IsDNS1123Subdomain(o.ClusterDomain); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("cluster domain %q: %s", o.ClusterDomain, strings.Join(msgs, "; ")))
		}
	}
	if o.ServerURL != "" {
		if u, err := url.Parse(o.ServerURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("server URL %q is not an https:// URL", o.ServerURL))
		}
	}
	return errors.Join(errs...)
}

func validateDNSName(name string) []string {
	if strings.HasPrefix(name, "*.") {
		return validation.IsWildcardDNS1123Subdomain(name)
	}
	return validation.IsDNS1123Subdomain(name)
}

// Config is the completed configuration; only Complete makes one.
type Config struct {
	layout          Layout
	servingSpec     LeafSpec
	adminKubeconfig string
	serverURL       string
	now             func() time.Time
}

// Complete fills defaults and derives the apiserver's serving names. Call Validate first.
func (o *Options) Complete() (*Config, error) {
	hostname := o.Hostname
	if hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("read host name: %w", err)
		}
		hostname = strings.ToLower(h)
	}
	domain := o.ClusterDomain
	if domain == "" {
		domain = DefaultClusterDomain
	}
	c := &Config{
		layout:          NewLayout(o.DataDir),
		adminKubeconfig: o.AdminKubeconfig,
		serverURL:       o.ServerURL,
		now:             o.Now,
	}
	if c.adminKubeconfig == "" {
		c.adminKubeconfig = DefaultAdminKubeconfig
	}
	if c.serverURL == "" {
		c.serverURL = DefaultServerURL
	}
	if c.now == nil {
		c.now = time.Now
	}

	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + domain}
	if validation.IsDNS1123Subdomain(hostname) == nil {
		dns = append(dns, hostname)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, cidr := range o.ServiceCIDRs {
		prefix, err := netip.ParsePrefix(cidr)
		if err != nil {
			return nil, fmt.Errorf("service CIDR %q: %w", cidr, err)
		}
		ips = append(ips, net.IP(prefix.Masked().Addr().Next().AsSlice()))
	}
	for _, ip := range o.NodeIPs {
		ips = append(ips, net.ParseIP(ip))
	}
	for _, san := range o.TLSSANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, san)
		}
	}
	c.servingSpec = LeafSpec{
		CommonName: "kube-apiserver",
		DNSNames:   dedup(dns),
		IPs:        dedupIPs(ips),
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return c, nil
}

// ServingNames returns the DNS names and IPs the apiserver's certificate must cover.
func (c *Config) ServingNames() ([]string, []net.IP) {
	return slices.Clone(c.servingSpec.DNSNames), slices.Clone(c.servingSpec.IPs)
}

// PKI is the server's loaded PKI: where its files are and the CAs that issue agents' certificates.
type PKI struct {
	Layout          Layout
	AdminKubeconfig string
	ServerCA        *Authority
	ClientCA        *Authority
	RequestHeaderCA *Authority
	now             func() time.Time
}

// Run makes sure every file exists and is current, and loads the CAs. It returns what it did
// even when it fails part way, so the caller can log it.
func (c *Config) Run() (*PKI, *Report, error) {
	report := &Report{}
	now := c.now()
	l := c.layout
	p := &PKI{Layout: l, AdminKubeconfig: c.adminKubeconfig, now: c.now}

	cas := map[string]**Authority{ServerCA: &p.ServerCA, ClientCA: &p.ClientCA, RequestHeaderCA: &p.RequestHeaderCA}
	for _, stem := range []string{ServerCA, ClientCA, RequestHeaderCA} {
		ca, err := ensureAuthority(l.CertFile(stem), l.KeyFile(stem), version.Program+"-"+stem, now, report)
		if err != nil {
			return nil, report, err
		}
		*cas[stem] = ca
	}
	if err := ensureServiceAccountKey(l.ServiceAccountKey(), l.ServiceAccountPub(), report); err != nil {
		return nil, report, err
	}
	if err := ensureLeaf(l.CertFile(APIServerServing), l.KeyFile(APIServerServing), c.servingSpec, p.ServerCA, now, report); err != nil {
		return nil, report, err
	}
	for _, id := range ClientIdentities() {
		if err := ensureLeaf(l.CertFile(id.Stem()), l.KeyFile(id.Stem()), id.spec(), *cas[id.SignedBy], now, report); err != nil {
			return nil, report, err
		}
		if id.Kubeconfig {
			if err := writeKubeconfig(l.Kubeconfig(id.Name), c.serverURL, l.CertFile(ServerCA), l.CertFile(id.Stem()), l.KeyFile(id.Stem()), false, report); err != nil {
				return nil, report, err
			}
		}
	}
	admin := ClientIdentities()[0]
	if err := writeKubeconfig(c.adminKubeconfig, c.serverURL, l.CertFile(ServerCA), l.CertFile(admin.Stem()), l.KeyFile(admin.Stem()), true, report); err != nil {
		return nil, report, err
	}
	return p, report, nil
}

// CABundle is the PEM the join API serves at /cacerts and whose hash join tokens pin.
func (p *PKI) CABundle() []byte { return slices.Clone(p.ServerCA.CertPEM) }

func dedup(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func dedupIPs(ips []net.IP) []net.IP {
	var out []net.IP
	for _, ip := range ips {
		if !slices.ContainsFunc(out, ip.Equal) {
			out = append(out, ip)
		}
	}
	return out
}
