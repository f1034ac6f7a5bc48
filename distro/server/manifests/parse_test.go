package manifests

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSplitsDocumentsAndNamesTheBadOnes(t *testing.T) {
	file := `# leading comment only
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: first
  namespace: kube-system
data:
  a: "1"
---
apiVersion: v1
kind: ConfigMap
metadata: {}
---
this: is: not: yaml
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: listed
---
apiVersion: v1
kind: Secret
metadata:
  name: last
`
	docs, err := Parse("/m/app.yaml", []byte(file))
	var got []string
	for _, d := range docs {
		got = append(got, describeObject(d.Object)+"@"+string(rune('0'+d.Index)))
	}
	want := []string{"ConfigMap kube-system/first@2", "Namespace listed@5", "Secret last@6"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("documents %v, want %v", got, want)
	}
	var de *DocumentError
	if !errors.As(err, &de) {
		t.Fatalf("error %v, want DocumentErrors", err)
	}
	msg := err.Error()
	for _, w := range []string{"/m/app.yaml document 3: ConfigMap has no metadata.name", "/m/app.yaml document 4:"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q lacks %q", msg, w)
		}
	}
}

func TestParseEmptyFile(t *testing.T) {
	docs, err := Parse("empty.yaml", []byte("# nothing here\n---\n\n"))
	if err != nil || len(docs) != 0 {
		t.Errorf("got %d documents, %v", len(docs), err)
	}
}
