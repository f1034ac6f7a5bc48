// Package images names the container images a node cannot run without. They are built from
// source at build time (see release/images) and imported into containerd at start, so no node
// ever pulls them from a registry.
package images

// PauseVersion is the pause image version upstream's build/pause/Makefile builds for the
// Kubernetes release distro is built from; the image build refuses a source that disagrees.
const PauseVersion = "3.10.2"

// Pause is the sandbox image: the name both the kubelet's runtime and containerd's CRI plugin
// default to, so images imported under it are used without a pull.
const Pause = "registry.k8s.io/pause:" + PauseVersion
