// Package supervisor is the join API: the HTTPS endpoints through which agents learn the cluster
// CA and obtain their kubelet certificates, served by `distro server` on a port of its own.
//
// Endpoints (prefix /v1-<program>, /v1-distro for this build):
//
//	GET  /cacerts                     the server CA bundle, no authentication; clients check it
//	                                  against the hash their token pins (token.FetchCA)
//	POST /v1-distro/node/register     Authorization: Bearer <token>; a RegisterRequest in,
//	                                  a RegisterResponse out (signed kubelet certificates, the CA
//	                                  bundles and the apiserver URL)
//	GET  /v1-distro/connect           Authorization: Bearer <token> and the node's kubelet client
//	                                  certificate; upgraded to the websocket tunnel the agent
//	                                  keeps open to the server (see the tunnel package).
//	                                  Answers 501 when Config.Tunnel is nil.
//
// Why a port of its own (DefaultPort, 9345) rather than sharing the apiserver's :6443: sharing
// means terminating TLS in front of the apiserver, which either loses the client certificates
// the apiserver authenticates (kubelets, controllers) or needs the apiserver's handler in this
// process through a patch, plus proxying of upgrades for exec, attach and watch. A second
// listener costs one documented port and keeps the apiserver untouched. It serves the
// apiserver's own certificate, so agents verify it with the same pinned CA bundle.
package supervisor

import (
	"github.com/distro-io/distro/distro/token"
	"github.com/distro-io/distro/distro/version"
)

// DefaultPort is the join API's port.
const DefaultPort = 9345

// Paths of the join API.
var (
	// Prefix versions the API and names the program, so another product's agent fails clearly.
	Prefix       = "/v1-" + version.Program
	RegisterPath = Prefix + "/node/register"
	ConnectPath  = Prefix + "/connect"
	CACertsPath  = token.CACertsPath
)

// RegisterRequest is what an agent sends to register its node. The server decides the identity
// from NodeName; the subjects of the requests are ignored, their signatures prove the agent holds
// the private keys.
type RegisterRequest struct {
	NodeName string `json:"nodeName"`
	// KubeletClientCSR and KubeletServingCSR are PEM certificate requests.
	KubeletClientCSR  string `json:"kubeletClientCSR"`
	KubeletServingCSR string `json:"kubeletServingCSR"`
	// KubeProxyCSR and ControllerCSR are for the identities of the node's kube-proxy and of its
	// own controllers (the pod network).
	KubeProxyCSR  string `json:"kubeProxyCSR"`
	ControllerCSR string `json:"controllerCSR"`
	// Addresses are the node's IPs, put into the serving certificate.
	Addresses []string `json:"addresses,omitempty"`
	// DNSNames are extra names of the node for the serving certificate; NodeName is always in.
	DNSNames []string `json:"dnsNames,omitempty"`
}

// RegisterResponse carries everything a kubelet needs to talk to the cluster, PEM encoded.
type RegisterResponse struct {
	// KubeletClientCert is signed by the client CA: CN system:node:<name>, O system:nodes.
	KubeletClientCert string `json:"kubeletClientCert"`
	// KubeletServingCert is signed by the server CA, which the apiserver trusts for kubelets.
	KubeletServingCert string `json:"kubeletServingCert"`
	// KubeProxyCert is system:kube-proxy's, ControllerCert the node controllers', both signed
	// by the client CA.
	KubeProxyCert  string `json:"kubeProxyCert"`
	ControllerCert string `json:"controllerCert"`
	// ServerCA verifies the apiserver (and is the bundle /cacerts serves).
	ServerCA string `json:"serverCA"`
	// ClientCA verifies clients of the kubelet, such as the apiserver.
	ClientCA string `json:"clientCA"`
	// APIServerURL is where the kubelet reaches the apiserver.
	APIServerURL string `json:"apiServerURL"`
	// Cluster holds the settings every node must share with the servers.
	Cluster ClusterSettings `json:"cluster"`
}

// ClusterSettings are the server's settings a node follows, so they are given once, to the
// servers.
type ClusterSettings struct {
	ClusterCIDR    string `json:"clusterCIDR"`
	ServiceCIDR    string `json:"serviceCIDR"`
	ClusterDNS     string `json:"clusterDNS"`
	ClusterDomain  string `json:"clusterDomain"`
	FlannelBackend string `json:"flannelBackend"`
}

// maxRequest bounds a registration body: two CSRs and a few names.
const maxRequest = 64 << 10
