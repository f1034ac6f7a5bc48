package serverbench

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/cert"
)

// With BENCH_FAKE set the test binary plays the programs the benchmark drives: a small
// HTTPS server that answers like `distro server` does to the benchmark, or an etcd that
// answers /health. Each appends what it was to the file BENCH_FAKE names, so tests can
// check the order of runs.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_FAKE") == "" {
		os.Exit(m.Run())
	}
	var err error
	if len(os.Args) > 1 && os.Args[1] == "server" {
		err = fakeServer(os.Args[2:])
	} else {
		err = fakeEtcd(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake:", err)
		os.Exit(3)
	}
}

func record(line string) {
	f, err := os.OpenFile(os.Getenv("BENCH_FAKE"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		fmt.Fprintln(f, line)
		f.Close()
	}
}

func fakeServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "")
	kubeconfig := fs.String("write-kubeconfig", "", "")
	port := fs.Int("https-listen-port", 0, "")
	datastore := fs.String("datastore-endpoint", "sqlite", "")
	fs.Bool("disable-agent", false, "")
	fs.String("node-ip", "", "")
	bind := fs.String("bind-address", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getenv("BENCH_FAKE_FAIL") != "" {
		return fmt.Errorf("refusing to start as asked")
	}
	if strings.HasPrefix(*datastore, "http://") {
		if resp, err := http.Get(*datastore + "/health"); err != nil {
			return fmt.Errorf("datastore %s: %w", *datastore, err)
		} else {
			resp.Body.Close()
		}
	}
	record("server " + *datastore)
	os.MkdirAll(*dataDir, 0o755)
	starts, _ := os.ReadFile(filepath.Join(*dataDir, "starts"))
	os.WriteFile(filepath.Join(*dataDir, "starts"), append(starts, 'x'), 0o644)

	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey("127.0.0.1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	start := time.Now()
	var mu sync.Mutex
	created := map[string]bool{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) < 300*time.Millisecond {
			http.Error(w, "[-]etcd failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	})
	// client-go may send protobuf or JSON; the answer is JSON, which it always accepts.
	echo := func(w http.ResponseWriter, r *http.Request, obj runtime.Object) bool {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			_, _, err = scheme.Codecs.UniversalDeserializer().Decode(body, nil, obj)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(obj)
		return true
	}
	mux.HandleFunc("POST /api/v1/namespaces", func(w http.ResponseWriter, r *http.Request) {
		echo(w, r, &corev1.Namespace{})
	})
	mux.HandleFunc("POST /api/v1/namespaces/{ns}/configmaps", func(w http.ResponseWriter, r *http.Request) {
		var cm corev1.ConfigMap
		if echo(w, r, &cm) {
			mu.Lock()
			created[r.PathValue("ns")+"/"+cm.Name] = true
			mu.Unlock()
		}
	})
	l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", *bind, *port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAnyClientCert, // the benchmark must present the admin's certificate
	}}
	go srv.ServeTLS(l, "", "")

	// The kubeconfig appears a little after the start, as the real one does after the PKI.
	time.Sleep(100 * time.Millisecond)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: fmt.Sprintf("https://127.0.0.1:%d", *port), CertificateAuthorityData: certPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "admin"}
	cfg.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*cfg, *kubeconfig); err != nil {
		return err
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	mu.Lock()
	defer mu.Unlock()
	return os.WriteFile(filepath.Join(*dataDir, "created"), []byte(fmt.Sprint(len(created))), 0o644)
}

func fakeEtcd(args []string) error {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	listen := fs.String("listen-client-urls", "", "")
	dataDir := fs.String("data-dir", "", "")
	for _, name := range []string{"name", "advertise-client-urls", "listen-peer-urls", "initial-advertise-peer-urls", "initial-cluster"} {
		fs.String(name, "", "")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	record("etcd")
	l, err := net.Listen("tcp", strings.TrimPrefix(*listen, "http://"))
	if err != nil {
		return err
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"health":"true","reason":""}`)
	}))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	return nil
}
