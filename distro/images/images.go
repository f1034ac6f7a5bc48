// Package images names the container images a node cannot run without (pause, CoreDNS). They
// are built from source at build time (see release/images) and imported into containerd at
// start, so no node ever pulls them from a registry.
package images

// PauseVersion is the pause image version upstream's build/pause/Makefile builds for the
// Kubernetes release distro is built from; the image build refuses a source that disagrees.
const PauseVersion = "3.10.2"

// Pause is the sandbox image: the name both the kubelet's runtime and containerd's CRI plugin
// default to, so images imported under it are used without a pull.
const Pause = "registry.k8s.io/pause:" + PauseVersion

// CoreDNSVersion is the CoreDNS release the cluster DNS runs: upstream.lock pins
// github.com/coredns/coredns at v<CoreDNSVersion>, and the image build refuses a lock or a
// source that disagrees.
const CoreDNSVersion = "1.15.0"

// CoreDNS is the cluster DNS image, under the name Kubernetes' own registry (and so kubeadm)
// gives this release, so an image imported under it is used without a pull.
const CoreDNS = "registry.k8s.io/coredns/coredns:v" + CoreDNSVersion

// CoreDNSUID is the user and group the CoreDNS image runs as (upstream's image uses the
// distroless "nonroot" user, 65532); the Deployment asks for the same.
const CoreDNSUID = 65532
