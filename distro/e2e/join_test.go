package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"

	"github.com/distro-io/distro/distro/server/supervisor"
	"github.com/distro-io/distro/distro/token"
)

// startWithJoinAPI starts a server whose join API listens on a free port, and returns the
// join API's URL on loopback.
func startWithJoinAPI(t *testing.T, extra ...string) (*server, string) {
	t.Helper()
	s := newServer(t)
	port := freePort(t)
	s.start(append([]string{"--supervisor-port", fmt.Sprint(port)}, extra...)...)
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	// The join API starts after the control plane is ready, a moment after /readyz answers.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := client.Get(url + supervisor.CACertsPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the join API on %s does not answer: %v\n%s", url, err, tail(s.log.String(), 30))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// kubectlAs runs kubectl with another identity's kubeconfig.
func kubectlAs(s *server, kubeconfig string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"kubectl", "--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func readToken(t *testing.T, path string) token.Token {
	t.Helper()
	tok, err := token.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// join registers a node named name and returns the directory its files went to.
func join(t *testing.T, url string, tok token.Token, name string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := supervisor.Register(ctx, url, tok, supervisor.Node{Name: name, Addresses: []net.IP{net.ParseIP("127.0.0.1")}}, dir)
	return dir, err
}

func TestJoinAPIIssuesKubeletCertificatesTheApiserverAccepts(t *testing.T) {
	s, url := startWithJoinAPI(t)
	nodeTok := readToken(t, token.NodeTokenFile(s.dataDir))
	dir, err := join(t, url, nodeTok, "e2e-node")
	if err != nil {
		t.Fatalf("join with the node token: %v\nserver log:\n%s", err, tail(s.log.String(), 30))
	}
	files := supervisor.Files{Dir: dir}

	ca, _ := os.ReadFile(filepath.Join(s.dataDir, "server", "tls", "server-ca.crt"))
	if got, _ := os.ReadFile(files.ServerCA()); string(got) != string(ca) {
		t.Error("the agent's server-ca.crt is not the server's CA")
	}
	certs, err := certutil.CertsFromFile(files.ClientCert())
	if err != nil {
		t.Fatal(err)
	}
	if certs[0].Subject.CommonName != "system:node:e2e-node" || strings.Join(certs[0].Subject.Organization, ",") != "system:nodes" {
		t.Errorf("kubelet client certificate subject %v", certs[0].Subject)
	}
	clientCA, _ := certutil.CertsFromFile(filepath.Join(s.dataDir, "server", "tls", "client-ca.crt"))
	pool := x509.NewCertPool()
	pool.AddCert(clientCA[0])
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("kubelet client certificate does not chain to the server's client CA: %v", err)
	}

	// The apiserver takes the certificate as the node: the Node authorizer lets it read its
	// own (missing) Node object and nothing cluster-wide.
	kubeletAs := func(args ...string) (string, error) {
		return kubectlAs(s, files.KubeletKubeconfig(), args...)
	}
	out, err := kubeletAs("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if err != nil || out != "system:node:e2e-node" {
		t.Errorf("auth whoami with the kubelet kubeconfig: %q, %v", out, err)
	}
	if out, err := kubeletAs("get", "secrets", "-A"); err == nil || !strings.Contains(out, "forbidden") {
		t.Errorf("the node identity listed every Secret: %q, %v", out, err)
	}

	// A wrong secret is refused with 401 and logged with the caller's address, not the secret.
	wrong := nodeTok
	wrong.Secret = "0123456789abcdef0123456789abcdef"
	if _, err := join(t, url, wrong, "intruder"); !errors.Is(err, supervisor.ErrRefused) {
		t.Errorf("join with a wrong secret: %v, want a 401 refusal", err)
	}
	// The refusal is logged as the response goes out: the line may land a moment later.
	var log string
	eventually(t, 10*time.Second, "a log line for the refused token", func() string {
		log = s.log.String()
		if strings.Contains(log, "join API refused a token") && strings.Contains(log, "127.0.0.1:") {
			return ""
		}
		return "the log ends:\n" + tail(log, 20)
	})
	if strings.Contains(log, wrong.Secret) || strings.Contains(log, nodeTok.Secret) {
		t.Error("a token secret reached the server log")
	}

	// A token pinning another CA makes the client stop before it sends anything.
	other := nodeTok
	other.CAHash = token.HashCA([]byte("some other cluster"))
	if _, err := join(t, url, other, "e2e-node-2"); !errors.Is(err, token.ErrCAMismatch) {
		t.Errorf("join with a token for another CA: %v, want ErrCAMismatch", err)
	}
	s.stop()
}
