package e2e

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The server against every external datastore it accepts: objects created through the API
// land in the engine (not in a SQLite file of the server's), can be read back, and are still
// there after a clean restart.

const (
	dsNamespace   = "datastore-e2e"
	dsSecretValue = "kept-across-restarts"
)

// storedCount tells how many records the engine holds for the object of the given resource
// under dsNamespace; the test asks it directly, without distro in between.
type storedCount func(t *testing.T, resource, name string) int

// streamingList is a watch that opens with the current objects (the WatchList feature).
const streamingList = "/api/v1/namespaces?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"

func exerciseDatastore(t *testing.T, flags []string, stored storedCount, streamingLists bool) {
	s := newServer(t)
	s.start(flags...)

	s.kubectl("create", "namespace", dsNamespace)
	s.kubectl("-n", dsNamespace, "create", "configmap", "kept", "--from-literal=answer=42")
	s.kubectl("-n", dsNamespace, "create", "secret", "generic", "hidden", "--from-literal=value="+dsSecretValue)
	readBack := func(when string) {
		t.Helper()
		if out := s.kubectl("get", "namespace", dsNamespace, "-o", "jsonpath={.status.phase}"); out != "Active" {
			t.Errorf("%s: namespace %s is %q, want Active", when, dsNamespace, out)
		}
		if out := s.kubectl("-n", dsNamespace, "get", "configmap", "kept", "-o", "jsonpath={.data.answer}"); out != "42" {
			t.Errorf("%s: the ConfigMap holds %q, want 42", when, out)
		}
		want := base64.StdEncoding.EncodeToString([]byte(dsSecretValue))
		if out := s.kubectl("-n", dsNamespace, "get", "secret", "hidden", "-o", "jsonpath={.data.value}"); out != want {
			t.Errorf("%s: the Secret holds %q, want %q", when, out, want)
		}
	}
	readBack("after create")

	// Kine's progress notifications cannot keep a watch cache fresh enough for streaming
	// lists, so on kine the apiserver refuses them and clients list plainly.
	out, err := s.kubectlErr("get", "--raw", streamingList)
	switch {
	case streamingLists && (err != nil || !strings.Contains(out, dsNamespace)):
		t.Errorf("a streaming list of namespaces on this engine: %v\n%s", err, tail(out, 5))
	case !streamingLists && !strings.Contains(out, "WatchList feature gate"):
		t.Errorf("a streaming list of namespaces on kine was not refused for the WatchList gate: %v\n%s", err, tail(out, 5))
	}

	for _, obj := range []struct{ resource, name string }{{"configmaps", "kept"}, {"secrets", "hidden"}} {
		if n := stored(t, obj.resource, obj.name); n < 1 {
			t.Errorf("the datastore holds no record of %s %s/%s: the server did not write to it", obj.resource, dsNamespace, obj.name)
		}
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "server", "db", "state.db")); err == nil {
		t.Errorf("the server created its SQLite database although --datastore-endpoint names another engine")
	}

	s.waitStarted()
	s.stop()
	s.start(flags...)
	readBack("after a restart")
	s.waitStarted()
	s.stop()
}

func sqlStored(e *sqlEngine, db string) storedCount {
	return func(t *testing.T, resource, name string) int {
		t.Helper()
		out := e.query(t, db, "SELECT count(*) FROM kine WHERE name = '/registry/"+resource+"/"+dsNamespace+"/"+name+"'")
		n, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("counting kine rows: %q", out)
		}
		return n
	}
}

func etcdStored(e *etcdEngine) storedCount {
	return func(t *testing.T, resource, name string) int {
		t.Helper()
		return e.count(t, "/registry/"+resource+"/"+dsNamespace+"/"+name)
	}
}

func TestServerOnPostgreSQL(t *testing.T) {
	binary(t) // skips without DISTRO_BINARY before an engine starts
	pg := startPostgres(t)
	exerciseDatastore(t, []string{"--datastore-endpoint", pg.endpoint}, sqlStored(pg, "distro_e2e"), false)
}

func TestServerOnMariaDB(t *testing.T) {
	binary(t)
	db := startMariaDB(t)
	exerciseDatastore(t, []string{"--datastore-endpoint", db.endpoint}, sqlStored(db, "distro_e2e"), false)
}

func TestServerOnEtcd(t *testing.T) {
	binary(t)
	e := startEtcd(t, false)
	exerciseDatastore(t, []string{"--datastore-endpoint", e.endpoint}, etcdStored(e), true)
}

func TestServerOnEtcdWithClientCertificates(t *testing.T) {
	binary(t)
	e := startEtcd(t, true)
	// The engine must refuse a client without a certificate, or a passing test would not show
	// that the server presents the one it was given.
	cfg, err := e.tls.clientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = nil
	anonymous := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	if resp, err := anonymous.Get(e.endpoint + "/health"); err == nil {
		resp.Body.Close()
		t.Fatalf("etcd answered a client without a certificate (%s)", resp.Status)
	}
	exerciseDatastore(t, []string{"--datastore-endpoint", e.endpoint,
		"--datastore-cafile", e.tls.CAFile,
		"--datastore-certfile", e.tls.ClientCert,
		"--datastore-keyfile", e.tls.ClientKey,
	}, etcdStored(e), true)
}
