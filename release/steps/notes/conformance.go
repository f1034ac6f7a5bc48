package notes

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Conformance summarises a Sonobuoy conformance run: PRODUCT.yaml (the CNCF submission's
// product description) and junit_01.xml (the e2e results).
type Conformance struct {
	Product                 Product
	Passed, Failed, Skipped int
}

// Product is the part of PRODUCT.yaml the notes show.
type Product struct {
	Vendor  string `yaml:"vendor"`
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	Type    string `yaml:"type"`
}

// Short is the one-line summary.
func (c *Conformance) Short() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", c.Passed, c.Failed, c.Skipped)
}

// Markdown is the notes' conformance section.
func (c *Conformance) Markdown() string {
	verdict := "passed"
	if c.Failed > 0 {
		verdict = "FAILED"
	}
	return fmt.Sprintf("Kubernetes conformance tests (Sonobuoy) %s for %s %s: %d passed, %d failed, %d skipped (not conformance tests).",
		verdict, c.Product.Name, c.Product.Version, c.Passed, c.Failed, c.Skipped)
}

// ReadConformance reads dir's PRODUCT.yaml and junit_01.xml. An absent dir means no
// results (nil, nil); a dir missing either file, or holding malformed ones, is an error.
func ReadConformance(dir string) (*Conformance, error) {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	c := &Conformance{}
	product := filepath.Join(dir, "PRODUCT.yaml")
	data, err := os.ReadFile(product)
	if err != nil {
		return nil, fmt.Errorf("conformance results: %w", err)
	}
	if err := yaml.Unmarshal(data, &c.Product); err != nil {
		return nil, fmt.Errorf("%s: %w", product, err)
	}
	if c.Product.Name == "" || c.Product.Version == "" {
		return nil, fmt.Errorf("%s: name and version are required", product)
	}
	junit := filepath.Join(dir, "junit_01.xml")
	f, err := os.Open(junit)
	if err != nil {
		return nil, fmt.Errorf("conformance results: %w", err)
	}
	defer f.Close()
	if err := c.count(xml.NewDecoder(f)); err != nil {
		return nil, fmt.Errorf("%s: %w", junit, err)
	}
	if c.Passed+c.Failed+c.Skipped == 0 {
		return nil, fmt.Errorf("%s holds no test cases", junit)
	}
	return c, nil
}

// count walks the JUnit XML: each <testcase> with a <failure> or <error> failed, one
// with <skipped> was skipped, the rest passed. Walking tokens accepts both a
// <testsuites> root and a bare <testsuite>.
func (c *Conformance) count(d *xml.Decoder) error {
	depth, caseDepth := 0, -1
	var failed, skipped bool
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if depth != 0 {
				return errors.New("unexpected end of XML")
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case t.Name.Local == "testcase":
				if caseDepth >= 0 {
					return errors.New("<testcase> inside <testcase>")
				}
				caseDepth, failed, skipped = depth, false, false
			case caseDepth >= 0 && depth == caseDepth+1:
				switch strings.ToLower(t.Name.Local) {
				case "failure", "error":
					failed = true
				case "skipped":
					skipped = true
				}
			}
		case xml.EndElement:
			if depth == caseDepth {
				switch {
				case failed:
					c.Failed++
				case skipped:
					c.Skipped++
				default:
					c.Passed++
				}
				caseDepth = -1
			}
			depth--
		}
	}
}
