// Package results writes a conformance run as a cncf/k8s-conformance submission folder:
// PRODUCT.yaml, README.md (how to reproduce the run), e2e.log and junit_01.xml.
package results

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// ProductFile holds the product's facts, kept in the repository; the version is the run's.
const ProductFile = "conformance/product.yaml"

// Product is PRODUCT.yaml: the fields the CNCF's submission instructions list.
type Product struct {
	Vendor              string `json:"vendor"`
	Name                string `json:"name"`
	Version             string `json:"version"`
	WebsiteURL          string `json:"website_url"`
	RepoURL             string `json:"repo_url"`
	DocumentationURL    string `json:"documentation_url"`
	ProductLogoURL      string `json:"product_logo_url"`
	Type                string `json:"type"`
	Description         string `json:"description"`
	ContactEmailAddress string `json:"contact_email_address"`
}

// productTypes are the values the instructions allow for type.
var productTypes = []string{"distribution", "installer", "hosted platform"}

// LoadProduct reads the product file; every field but version must be set.
func LoadProduct(path string) (Product, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Product{}, fmt.Errorf("the product file: %w", err)
	}
	var p Product
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return Product{}, fmt.Errorf("%s: %w", path, err)
	}
	var missing []string
	for name, v := range map[string]string{
		"vendor": p.Vendor, "name": p.Name, "website_url": p.WebsiteURL, "repo_url": p.RepoURL,
		"documentation_url": p.DocumentationURL, "product_logo_url": p.ProductLogoURL, "type": p.Type,
		"description": p.Description, "contact_email_address": p.ContactEmailAddress,
	} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		return Product{}, fmt.Errorf("%s: %s not set", path, strings.Join(missing, ", "))
	}
	if !slices.Contains(productTypes, p.Type) {
		return Product{}, fmt.Errorf("%s: type %q is not one of %s", path, p.Type, strings.Join(productTypes, ", "))
	}
	if p.Version != "" {
		return Product{}, fmt.Errorf("%s: version is set by the run, not the file", path)
	}
	return p, nil
}

// Run is what a finished run contributes to the folder.
type Run struct {
	Product Product
	// Version is the distro release tested (vX.Y.Z+distroN); KubernetesVersion its upstream.
	Version, KubernetesVersion string
	// SonobuoyVersion is the Sonobuoy release that drove the run.
	SonobuoyVersion string
	// Log and JUnit are the run's e2e.log and junit_01.xml.
	Log, JUnit string
	// Nodes is how many nodes the cluster had; Passed and Failed count the tests.
	Nodes, Passed, Failed int
	Duration              time.Duration
	Finished              time.Time
}

// Dir is the folder of a version under root: conformance/results/<version>.
func Dir(root, version string) string { return filepath.Join(root, version) }

// Write fills dir with the submission files, replacing what an earlier run of the same
// version left there.
func Write(dir string, r Run) error {
	if r.Version == "" || r.KubernetesVersion == "" || r.Log == "" || r.JUnit == "" {
		return errors.New("conformance results: the version, Kubernetes version, e2e.log and junit_01.xml are all needed")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p := r.Product
	p.Version = r.Version
	product, err := yaml.Marshal(p)
	if err != nil {
		return err
	}
	var readme bytes.Buffer
	if err := readmeTemplate.Execute(&readme, r); err != nil {
		return err
	}
	files := map[string][]byte{"PRODUCT.yaml": product, "README.md": readme.Bytes()}
	for name, src := range map[string]string{"e2e.log": r.Log, "junit_01.xml": r.JUnit} {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		files[name] = data
	}
	for name, data := range files {
		if err := atomicfile.Write(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

var readmeTemplate = template.Must(template.New("README.md").Parse(`# Conformance results for {{.Product.Name}} {{.Version}}

{{.Product.Name}} {{.Version}} is Kubernetes {{.KubernetesVersion}} built as one binary (API server,
controller manager, scheduler, kubelet, kube-proxy, containerd, flannel and kine on SQLite).
The run below used Sonobuoy {{.SonobuoyVersion}} in certified-conformance mode (the e2e plugin
alone) on a cluster of {{.Nodes}} nodes: {{.Passed}} tests passed and {{.Failed}} failed in
{{.Duration}} (finished {{.Finished.UTC.Format "2006-01-02 15:04 UTC"}}).

## How to reproduce

Everything is built from source on the machine that runs the tests: no image registry is
needed. On a Debian (bookworm or later) x86-64 machine, as root:

1. Install the build and test dependencies:

       apt-get update
       apt-get install -y git gcc libc6-dev libseccomp-dev pkg-config zstd file iptables mmdebstrap make bzip2

2. Get the source of the release and select the Go toolchain it is built with:

       git clone {{.Product.RepoURL}} && cd {{.Product.Name}}
       git checkout {{.Version}}
       export GOTOOLCHAIN=go1.27.3

3. Run the suite:

       go tool mage conformance

   This builds the {{.Product.Name}} binary, the airgap images and every image the conformance
   tests use (from the Kubernetes {{.KubernetesVersion}} sources and Debian packages), starts a
   server and two agents, each in its own network namespace on this machine
   (` + "`go tool mage cluster:up`" + `), runs Sonobuoy against it, waits for the run to finish, and
   writes this folder (conformance/results/{{.Version}}). To test a cluster that already
   runs, point ` + "`KUBECONFIG`" + ` at its admin kubeconfig first (its nodes must have imported the
   archives ` + "`go tool mage conformance:images`" + ` builds).

4. The e2e.log and junit_01.xml here are the ones Sonobuoy retrieved from the e2e plugin
   (` + "`plugins/e2e/results/global/`" + ` in its tarball).
`))
