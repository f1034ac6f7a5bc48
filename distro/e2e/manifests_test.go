package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// eventually polls check every half second until it returns "" or the minute is over.
func eventuallyOK(t *testing.T, s *server, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		problem := check()
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after a minute; server log:\n%s", what, problem, tail(s.log.String(), 30))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// documentTwo finds the document index in a klog line, text or JSON.
var documentTwo = regexp.MustCompile(`document"?[=:] ?2\b`)

func configMap(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: kube-system\ndata:\n  value: " + value + "\n"
}

func TestManifestsAreAppliedOnChangeAndKeptWhenRemoved(t *testing.T) {
	s, _ := startWithJoinAPI(t)
	dir := filepath.Join(s.dataDir, "server", "manifests")
	write := func(name, content string) {
		t.Helper()
		// Written beside and renamed in, as tools that replace files do.
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	valueOf := func(name string) func() string {
		return func() string {
			out, err := s.kubectlErr("-n", "kube-system", "get", "configmap", name, "-o", "jsonpath={.data.value}")
			if err != nil {
				return "not readable: " + strings.TrimSpace(out)
			}
			return out
		}
	}
	want := func(name, value string) func() string {
		return func() string {
			if got := valueOf(name)(); got != value {
				return "value " + got + ", want " + value
			}
			return ""
		}
	}

	write("app.yaml", "# a comment\n---\n"+configMap("from-manifest", "first"))
	eventuallyOK(t, s, "a dropped manifest", want("from-manifest", "first"))
	if managers := s.kubectl("-n", "kube-system", "get", "configmap", "from-manifest", "-o", "jsonpath={.metadata.managedFields[*].manager}"); managers != "distro" {
		t.Errorf("field managers %q, want distro (server-side apply)", managers)
	}

	write("app.yaml", configMap("from-manifest", "second"))
	eventuallyOK(t, s, "a changed manifest", want("from-manifest", "second"))

	// A broken document is reported with its file and position; the good one beside it and
	// other files are applied anyway.
	write("broken.yaml", configMap("beside-broken", "ok")+"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
	eventuallyOK(t, s, "the good document of a broken file", want("beside-broken", "ok"))
	eventuallyOK(t, s, "the error log line", func() string {
		log := s.log.String()
		if strings.Contains(log, "broken.yaml") && documentTwo.MatchString(log) && strings.Contains(log, "no metadata.name") {
			return ""
		}
		return "no log line naming broken.yaml document 2"
	})

	// Removing the file keeps the object. The marker file is seen in the same scan that
	// notices the removal, so once it is applied the removal has been handled.
	if err := os.Remove(filepath.Join(dir, "app.yaml")); err != nil {
		t.Fatal(err)
	}
	write("marker.yaml", configMap("marker", "seen"))
	eventuallyOK(t, s, "the marker manifest", want("marker", "seen"))
	if got := valueOf("from-manifest")(); got != "second" {
		t.Errorf("after its file was removed the ConfigMap reads %q, want it kept with second", got)
	}
	s.stop()
}
