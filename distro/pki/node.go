package pki

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// KubeletClientSpec is the identity a node's kubelet uses towards the apiserver; the Node
// authorizer and NodeRestriction recognise exactly this form.
func KubeletClientSpec(nodeName string) LeafSpec {
	return LeafSpec{
		CommonName:   "system:node:" + nodeName,
		Organization: []string{NodesGroup},
		Usages:       []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// KubeletServingSpec is the certificate a node's kubelet serves with: its name and addresses.
func KubeletServingSpec(nodeName string, ips []net.IP, dnsNames []string) LeafSpec {
	return LeafSpec{
		CommonName:   "system:node:" + nodeName,
		Organization: []string{NodesGroup},
		DNSNames:     dedup(append([]string{nodeName}, dnsNames...)),
		IPs:          dedupIPs(ips),
		Usages:       []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// IssueKubeletClient signs a kubelet client certificate for nodeName with the client CA and
// returns it PEM encoded.
func (p *PKI) IssueKubeletClient(nodeName string, pub crypto.PublicKey) ([]byte, error) {
	if err := validateNodeName(nodeName); err != nil {
		return nil, err
	}
	_, certPEM, err := p.ClientCA.Sign(KubeletClientSpec(nodeName), pub, p.now(), LeafValidity)
	return certPEM, err
}

// IssueKubeletServing signs a kubelet serving certificate for nodeName with the server CA, which
// the apiserver trusts for kubelets, and returns it PEM encoded.
func (p *PKI) IssueKubeletServing(nodeName string, ips []net.IP, dnsNames []string, pub crypto.PublicKey) ([]byte, error) {
	if err := validateNodeName(nodeName); err != nil {
		return nil, err
	}
	for _, name := range dnsNames {
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			return nil, fmt.Errorf("DNS name %q: %s", name, strings.Join(msgs, "; "))
		}
	}
	_, certPEM, err := p.ServerCA.Sign(KubeletServingSpec(nodeName, ips, dnsNames), pub, p.now(), LeafValidity)
	return certPEM, err
}

// PublicKeyFromCSR returns the key of a PEM certificate request after checking its signature,
// which proves the requester holds the private key. The request's subject is ignored: the
// server decides the identity.
func PublicKeyFromCSR(csrPEM []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("no PEM CERTIFICATE REQUEST block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	return csr.PublicKey, nil
}

func validateNodeName(name string) error {
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return fmt.Errorf("node name %q: %s", name, strings.Join(msgs, "; "))
	}
	return nil
}

// IssueNodeClient signs a client certificate for one of the identities every node's own
// components share (KubeProxy, Controller) with the client CA and returns it PEM encoded.
func (p *PKI) IssueNodeClient(name string, pub crypto.PublicKey) ([]byte, error) {
	for _, id := range ClientIdentities() {
		if id.Name != name || (name != KubeProxy && name != Controller) {
			continue
		}
		spec := LeafSpec{CommonName: id.CommonName, Organization: id.Organization, Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		_, certPEM, err := p.ClientCA.Sign(spec, pub, p.now(), LeafValidity)
		return certPEM, err
	}
	return nil, fmt.Errorf("%q is not an identity nodes are given", name)
}
