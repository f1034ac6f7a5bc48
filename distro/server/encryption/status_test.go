package encryption

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestReadStatusNamesTheActiveKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "encryption-config.json")
	when := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := Ensure(path, when); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Encrypted || st.Provider != "secretbox" || st.ActiveKey() != "secretbox-20310203T040506Z" || len(st.Keys) != 1 {
		t.Errorf("status %+v", st)
	}
	data, _ := os.ReadFile(path)
	if st.Hash != contentHash(data) || !strings.HasPrefix(st.Hash, "sha256:") {
		t.Errorf("hash %q", st.Hash)
	}
}

func TestNewKeyNeverReusesAName(t *testing.T) {
	now := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	first, _ := newKey(now, nil)
	second, err := newKey(now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Secret == second.Secret {
		t.Error("two keys share their secret")
	}
	third, _ := newKey(now, nil)
	third2, _ := newKey(now, append([]apiserverv1.Key{first}, third))
	if third2.Name == first.Name || third2.Name == third.Name {
		t.Errorf("name %q collides with an existing key", third2.Name)
	}
}

// TestLoadedReadsTheApiserverMetric serves /metrics the way the apiserver prints it.
func TestLoadedReadsTheApiserverMetric(t *testing.T) {
	metrics := "# HELP x\n" + lastConfigMetric + `{apiserver_id_hash="sha256:aa",hash="sha256:1234"} 1` + "\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(metrics))
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	client := cs.Discovery().RESTClient()
	ctx := context.Background()
	if ok, err := Loaded(ctx, client, "sha256:1234"); !ok || err != nil {
		t.Errorf("current hash: %v, %v", ok, err)
	}
	if ok, err := Loaded(ctx, client, "sha256:5678"); ok || err != nil {
		t.Errorf("other hash: %v, %v", ok, err)
	}
	metrics = "apiserver_other 1\n"
	if _, err := Loaded(ctx, client, "sha256:1234"); err == nil || !strings.Contains(err.Error(), "automatic-reload") {
		t.Errorf("without the metric: %v", err)
	}
}
