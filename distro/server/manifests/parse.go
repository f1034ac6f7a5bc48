package manifests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// Document is one object of a manifest file.
type Document struct {
	// Index is the document's position in the file, from 1, as an editor counts "---" sections.
	Index  int
	Object *unstructured.Unstructured
}

// DocumentError names the document of a file that could not be read or applied.
type DocumentError struct {
	File  string
	Index int
	// Object is "Kind namespace/name" when the document was readable.
	Object string
	Err    error
}

func (e *DocumentError) Error() string {
	what := fmt.Sprintf("%s document %d", e.File, e.Index)
	if e.Object != "" {
		what += " (" + e.Object + ")"
	}
	return what + ": " + e.Err.Error()
}

func (e *DocumentError) Unwrap() error { return e.Err }

// Parse splits a multi-document YAML (or JSON) file into objects. Empty documents are skipped;
// a List is flattened into its items. Every unreadable document is reported, and the readable
// ones are still returned, so one mistake does not hold back the rest of the file.
func Parse(file string, data []byte) ([]Document, error) {
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []Document
	var errs []error
	for i := 1; ; i++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, &DocumentError{File: file, Index: i, Err: err})
			break
		}
		if isEmpty(raw) {
			continue
		}
		objs, err := decode(raw)
		if err != nil {
			errs = append(errs, &DocumentError{File: file, Index: i, Err: err})
			continue
		}
		for _, o := range objs {
			docs = append(docs, Document{Index: i, Object: o})
		}
	}
	return docs, errors.Join(errs...)
}

// isEmpty says whether a document holds only blank lines and comments.
func isEmpty(raw []byte) bool {
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && line != "---" {
			return false
		}
	}
	return true
}

func decode(raw []byte) ([]*unstructured.Unstructured, error) {
	js, err := yaml.ToJSON(raw)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(js); err != nil {
		return nil, err
	}
	if obj.IsList() {
		list, err := obj.ToList()
		if err != nil {
			return nil, err
		}
		var out []*unstructured.Unstructured
		for i := range list.Items {
			if err := check(&list.Items[i]); err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out = append(out, &list.Items[i])
		}
		return out, nil
	}
	if err := check(obj); err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{obj}, nil
}

func check(obj *unstructured.Unstructured) error {
	switch {
	case obj.GetAPIVersion() == "":
		return errors.New("apiVersion is missing")
	case obj.GetKind() == "":
		return errors.New("kind is missing")
	case obj.GetName() == "":
		return fmt.Errorf("%s has no metadata.name", obj.GetKind())
	}
	return nil
}

func describeObject(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return obj.GetKind() + " " + ns + "/" + obj.GetName()
	}
	return obj.GetKind() + " " + obj.GetName()
}
