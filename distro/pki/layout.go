package pki

import (
	"crypto/x509"
	"path/filepath"

	"github.com/distro-io/distro/distro/version"
)

// Layout names every file of the server's PKI. All paths derive from the data directory.
type Layout struct {
	// TLSDir is <data-dir>/server/tls: certificates and keys.
	TLSDir string
	// CredDir is <data-dir>/server/cred: kubeconfigs of the components.
	CredDir string
}

// NewLayout returns the layout under dataDir.
func NewLayout(dataDir string) Layout {
	return Layout{
		TLSDir:  filepath.Join(dataDir, "server", "tls"),
		CredDir: filepath.Join(dataDir, "server", "cred"),
	}
}

// CertFile and KeyFile name the pair of files for a certificate stem such as "server-ca".
func (l Layout) CertFile(stem string) string { return filepath.Join(l.TLSDir, stem+".crt") }
func (l Layout) KeyFile(stem string) string  { return filepath.Join(l.TLSDir, stem+".key") }

// Kubeconfig is the kubeconfig of a client identity, for example "admin".
func (l Layout) Kubeconfig(name string) string {
	return filepath.Join(l.CredDir, name+".kubeconfig")
}

// Stems of the CA files.
const (
	// ServerCA signs serving certificates: the apiserver's and the kubelets'. Its certificate
	// is the bundle agents download from /cacerts and whose hash the join token pins.
	ServerCA = "server-ca"
	// ClientCA signs the client certificates the apiserver authenticates.
	ClientCA = "client-ca"
	// RequestHeaderCA signs only the front-proxy client the aggregator presents to extension
	// apiservers, so that no other client certificate can assert request headers.
	RequestHeaderCA = "request-header-ca"
)

// Stems of the other files.
const (
	APIServerServing = "serving-kube-apiserver"
	// ServiceAccount is the key pair that signs service-account tokens (.key private, .pub public).
	ServiceAccount = "service-account"
)

// Service-account key files.
func (l Layout) ServiceAccountKey() string { return filepath.Join(l.TLSDir, ServiceAccount+".key") }
func (l Layout) ServiceAccountPub() string { return filepath.Join(l.TLSDir, ServiceAccount+".pub") }

// ClientIdentity is a client certificate the server issues for itself or its components.
type ClientIdentity struct {
	// Name is the file stem ("client-<Name>.crt") and the kubeconfig name.
	Name         string
	CommonName   string
	Organization []string
	// SignedBy is the stem of the issuing CA.
	SignedBy string
	// Kubeconfig says whether a kubeconfig is written for this identity under CredDir.
	Kubeconfig bool
}

// Stem is the file stem of the identity's certificate and key.
func (c ClientIdentity) Stem() string { return "client-" + c.Name }

func (c ClientIdentity) spec() LeafSpec {
	return LeafSpec{
		CommonName:   c.CommonName,
		Organization: c.Organization,
		Usages:       []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// Well-known groups and names.
const (
	MastersGroup = "system:masters"
	NodesGroup   = "system:nodes"
	// FrontProxyClientName goes into the apiserver's --requestheader-allowed-names.
	FrontProxyClientName = "front-proxy-client"
	// ControllerUser is the identity of a node's own controllers (the pod network), which read
	// every Node and annotate their own; an RBAC role grants exactly that.
	ControllerUser = "system:" + version.Program + "-controller"
	// SupervisorUser is the identity of the join API and tunnel server towards the apiserver.
	SupervisorUser = "system:" + version.Program + "-supervisor"
)

// Names of the client identities.
const (
	Admin                  = "admin"
	KubeControllerManager  = "kube-controller-manager"
	KubeScheduler          = "kube-scheduler"
	KubeProxy              = "kube-proxy"
	APIServerKubeletClient = "kube-apiserver-kubelet-client"
	Supervisor             = "supervisor"
	FrontProxyClient       = "front-proxy-client"
	Controller             = "controller"
)

// ClientIdentities lists every client certificate the server keeps.
//
// The apiserver's client towards kubelets is in system:masters: the kubelet authorizes it through
// a SubjectAccessReview, and a dedicated group would need an RBAC binding that must exist before
// the first kubelet is reached. The supervisor is in system:masters because it creates nodes'
// objects and reads secrets on behalf of joining agents.
func ClientIdentities() []ClientIdentity {
	return []ClientIdentity{
		{Name: Admin, CommonName: "system:admin", Organization: []string{MastersGroup}, SignedBy: ClientCA, Kubeconfig: true},
		{Name: KubeControllerManager, CommonName: "system:kube-controller-manager", SignedBy: ClientCA, Kubeconfig: true},
		{Name: KubeScheduler, CommonName: "system:kube-scheduler", SignedBy: ClientCA, Kubeconfig: true},
		{Name: KubeProxy, CommonName: "system:kube-proxy", SignedBy: ClientCA, Kubeconfig: true},
		{Name: APIServerKubeletClient, CommonName: APIServerKubeletClient, Organization: []string{MastersGroup}, SignedBy: ClientCA},
		{Name: Controller, CommonName: ControllerUser, SignedBy: ClientCA, Kubeconfig: true},
		{Name: Supervisor, CommonName: SupervisorUser, Organization: []string{MastersGroup}, SignedBy: ClientCA, Kubeconfig: true},
		{Name: FrontProxyClient, CommonName: FrontProxyClientName, SignedBy: RequestHeaderCA},
	}
}
