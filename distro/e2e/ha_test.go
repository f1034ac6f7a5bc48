package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distro-io/distro/distro/localcluster"
	"github.com/distro-io/distro/distro/server/bootstrap"
	stepimages "github.com/distro-io/distro/release/steps/images"
)

// Two servers on one external datastore, and an agent. The second server joins the first with
// its server token: both hold the same CAs, keys and encryption configuration, serve the same
// objects, reach every kubelet, and each keeps the cluster working while the other is stopped.

const haSubnet = "10.213.0.0/24"

func TestTwoServersOnPostgreSQL(t *testing.T) {
	var pg *sqlEngine
	c := upHA(t, func(t *testing.T, host net.IP) string {
		pg = startPostgresOn(t, host.String(), haSubnet)
		return pg.endpoint
	})
	// The datastore holds the bootstrap data, and not in plaintext.
	out := pg.query(t, "distro_e2e", "SELECT count(*), max(position(convert_to('PRIVATE KEY', 'UTF8') in value)) FROM kine WHERE name = '"+bootstrap.Key+"'")
	if n, plain, _ := strings.Cut(strings.TrimSpace(out), "|"); n == "0" || plain != "0" {
		t.Errorf("kine rows of %s (count|position of a private key): %q", bootstrap.Key, out)
	}
	joinWithWrongTokenIsRefused(t, c, pg.endpoint)
	exerciseHA(t, c)
	rotateOnOneServer(t, c)
}

func TestTwoServersOnEtcd(t *testing.T) {
	var etcd *etcdEngine
	c := upHA(t, func(t *testing.T, host net.IP) string {
		etcd = startEtcdOn(t, host.String(), false)
		return etcd.endpoint
	})
	if n := etcd.count(t, bootstrap.Key); n != 1 {
		t.Errorf("etcd holds %d keys at %s, want 1", n, bootstrap.Key)
	}
	exerciseHA(t, c)
}

// upHA brings up the cluster "ha": two servers and an agent, on the datastore startDatastore
// starts on the host's address on the cluster's bridge.
func upHA(t *testing.T, startDatastore func(t *testing.T, host net.IP) string) *localcluster.Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	bin, _, _ := binaryWithDataDir(t)
	dir, err := os.MkdirTemp("", "h")
	if err != nil {
		t.Fatal(err)
	}
	// Should the datastore fail to start (t.Fatal inside Up, before any node runs), the cluster
	// is taken down here; once Up returns, checkTornDown reports the node logs and takes it down.
	t.Cleanup(func() {
		if _, err := localcluster.Load(dir); err == nil {
			localcluster.Down(dir, t.Logf)
		}
		os.RemoveAll(dir)
	})
	airgap := filepath.Join(filepath.Dir(bin), stepimages.Archive)
	start := time.Now()
	c, err := localcluster.Up(context.Background(), localcluster.Options{
		Name: "ha", Binary: bin, Dir: dir, Servers: 2, Agents: 1, Subnet: haSubnet,
		Images: []string{airgap, buildProbeArchive(t)},
		DatastoreAt: func(_ context.Context, host net.IP) (string, error) {
			return startDatastore(t, host), nil
		},
		Log: t.Logf, KeepLogs: keepLogsDir(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("two servers and an agent Ready in %s", time.Since(start).Round(time.Second))
	t.Cleanup(func() { checkTornDown(t, c) })
	return c
}

// keepLogsDir is where a failed test keeps its nodes' whole logs: DISTRO_E2E_KEEP_LOGS names
// the directory of all tests; empty keeps none.
func keepLogsDir(t *testing.T) string {
	if keep := os.Getenv("DISTRO_E2E_KEEP_LOGS"); keep != "" {
		return filepath.Join(keep, t.Name())
	}
	return ""
}

// kubectlVia runs kubectl through the i-th node's apiserver (a server).
func kubectlVia(t *testing.T, c *localcluster.Cluster, i int, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := c.Nodes[i]
	cmd := exec.CommandContext(ctx, c.Binary, append([]string{"kubectl", "--kubeconfig", filepath.Join(n.DataDir, "kubeconfig.yaml"), "--request-timeout=20s"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "DISTRO_DATA_DIR="+n.DataDir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustKubectlVia(t *testing.T, c *localcluster.Cluster, i int, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectlVia(t, c, i, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl through %s: %s: %v\n%s", c.Nodes[i].Name, strings.Join(args, " "), err, out)
	}
	return out
}

// eventually retries check every 2 s until it returns "" or bound passes, and returns how long
// it took.
func eventually(t *testing.T, bound time.Duration, what string, check func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		problem := check()
		if problem == "" {
			return time.Since(start)
		}
		if time.Since(start) > bound {
			t.Fatalf("%s: not within %s: %s", what, bound, problem)
		}
		time.Sleep(2 * time.Second)
	}
}

func exerciseHA(t *testing.T, c *localcluster.Cluster) {
	const s0, s1, agent = 0, 1, 2
	first, second := c.Nodes[s0], c.Nodes[s1]

	// The shared files are byte for byte the same; the serving certificates are each server's.
	for _, f := range bootstrap.Files(first.DataDir) {
		a, errA := os.ReadFile(f.Path)
		b, errB := os.ReadFile(filepath.Join(second.DataDir, "server", filepath.FromSlash(f.Name)))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the servers (%v, %v)", f.Name, errA, errB)
		}
	}
	for _, n := range []localcluster.Node{first, second} {
		cert := readCert(t, filepath.Join(n.DataDir, "server", "tls", "serving-kube-apiserver.crt"))
		if !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.String() == n.IP }) {
			t.Errorf("the serving certificate of %s does not cover its address %s: %v", n.Name, n.IP, cert.IPAddresses)
		}
	}

	// Each apiserver holds an identity lease of its own, named after its host: every node has
	// the host name of a machine of its own.
	eventually(t, time.Minute, "an identity lease per apiserver", func() string {
		out, err := kubectlVia(t, c, s0, "", "-n", "kube-system", "get", "leases", "-l", "apiserver.kubernetes.io/identity=kube-apiserver",
			"-o", `jsonpath={range .items[*]}{.metadata.labels.kubernetes\.io/hostname} {end}`)
		hosts := strings.Fields(out)
		slices.Sort(hosts)
		if err != nil || !slices.Equal(hosts, []string{first.Name, second.Name}) {
			return fmt.Sprintf("the leases' hosts: %q (%v)", out, err)
		}
		return ""
	})

	// Objects written through one server are read through the other.
	mustKubectlVia(t, c, s0, "", "create", "namespace", "ha")
	mustKubectlVia(t, c, s0, "", "-n", "ha", "create", "configmap", "from-first", "--from-literal=k=1")
	mustKubectlVia(t, c, s1, "", "-n", "ha", "create", "secret", "generic", "from-second", "--from-literal=k=secret-2")
	if out := mustKubectlVia(t, c, s0, "", "-n", "ha", "get", "secret", "from-second", "-o", "jsonpath={.data.k}"); out != "c2VjcmV0LTI=" {
		t.Errorf("the Secret written through %s, read through %s: %q", second.Name, first.Name, out)
	}
	list := func(i int) string {
		out, err := kubectlVia(t, c, i, "", "get", "namespaces,nodes,configmaps,secrets,services,deployments", "-A", "-o", "name")
		if err != nil {
			return err.Error() + out
		}
		return out
	}
	eventually(t, 30*time.Second, "both servers list the same objects", func() string {
		if a, b := list(s0), list(s1); a != b {
			return fmt.Sprintf("\n%s:\n%s\n%s:\n%s", first.Name, a, second.Name, b)
		}
		return ""
	})

	// A service-account token one server issues, the other accepts: the key pair is shared.
	tok := strings.TrimSpace(mustKubectlVia(t, c, s0, "", "-n", "ha", "create", "token", "default"))
	if who := whoAmI(t, c, s1, tok); who != "system:serviceaccount:ha:default" {
		t.Errorf("%s authenticates a token issued by %s as %q", second.Name, first.Name, who)
	}

	// Each apiserver reaches every kubelet: its own node's directly, the others' through the
	// tunnels every node keeps to every server.
	for _, n := range c.Nodes {
		mustKubectlVia(t, c, s0, servePod("logs-"+n.Name, n.Name), "apply", "-f", "-")
	}
	mustKubectlVia(t, c, s0, "", "-n", "ha", "wait", "--for=condition=Ready", "pod", "--all", "--timeout=3m")
	for _, i := range []int{s0, s1} {
		for _, n := range c.Nodes {
			took := eventually(t, time.Minute, fmt.Sprintf("logs of the pod on %s through %s", n.Name, c.Nodes[i].Name), func() string {
				if out, err := kubectlVia(t, c, i, "", "-n", "ha", "logs", "logs-"+n.Name); err != nil || !strings.Contains(out, "serving on") {
					return fmt.Sprintf("%v %s", err, out)
				}
				return ""
			})
			t.Logf("logs of the pod on %s through %s (%s)", n.Name, c.Nodes[i].Name, took.Round(time.Millisecond))
		}
	}

	// Either server stops; the other serves, and the agent follows.
	failover(t, c, s0, s1, agent)
	failover(t, c, s1, s0, agent)
}

// failover stops server down, checks the cluster works through server up, and starts down again.
func failover(t *testing.T, c *localcluster.Cluster, down, up, agent int) {
	t.Helper()
	gone, other, agentName := c.Nodes[down].Name, c.Nodes[up].Name, c.Nodes[agent].Name
	t.Logf("stopping %s", gone)
	stopped := time.Now()
	c.Stop(down)
	t.Logf("%s stopped in %s", gone, time.Since(stopped).Round(time.Millisecond))
	stopped = time.Now()

	took := eventually(t, time.Minute, "kubectl through "+other, func() string {
		if out, err := kubectlVia(t, c, up, "", "get", "nodes"); err != nil {
			return fmt.Sprintf("%v %s", err, out)
		}
		return ""
	})
	t.Logf("kubectl through %s works %s after %s stopped", other, took.Round(time.Millisecond), gone)

	// The agent's kubelet reaches the remaining server through its load balancer: its lease is
	// renewed after the stop.
	took = eventually(t, 2*time.Minute, agentName+"'s lease renewed through "+other, func() string {
		out, err := kubectlVia(t, c, up, "", "-n", "kube-node-lease", "get", "lease", agentName, "-o", "jsonpath={.spec.renewTime}")
		if err != nil {
			return fmt.Sprintf("%v %s", err, out)
		}
		renewed, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(out))
		if err != nil || !renewed.After(stopped) {
			return fmt.Sprintf("last renewed %q", out)
		}
		return ""
	})
	t.Logf("failover: %s's kubelet renewed its lease through %s %s after %s stopped", agentName, other, took.Round(time.Millisecond), gone)

	// The remaining controller-manager and scheduler take over: a Deployment for the agent gets
	// its ReplicaSet and pod, which is scheduled and runs.
	deploy := "after-" + gone
	mustKubectlVia(t, c, up, serveDeployment(deploy, agentName), "apply", "-f", "-")
	took = eventually(t, 3*time.Minute, "deployment "+deploy+" available", func() string {
		out, _ := kubectlVia(t, c, up, "", "-n", "ha", "get", "deployment", deploy, "-o", "jsonpath={.status.availableReplicas}")
		if strings.TrimSpace(out) != "1" {
			return "available replicas " + out
		}
		return ""
	})
	t.Logf("deployment %s available on %s %s after it was created through %s", deploy, agentName, took.Round(time.Millisecond), other)
	pod := "deploy/" + deploy
	if out := mustKubectlVia(t, c, up, "", "-n", "ha", "logs", pod); !strings.Contains(out, "serving on") {
		t.Errorf("logs of %s through %s: %q", pod, other, out)
	}

	// Past the node monitor's grace period, the running nodes are Ready.
	if wait := time.Until(stopped.Add(60 * time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	nodes := mustKubectlVia(t, c, up, "", "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
	for _, n := range []string{other, agentName} {
		if !strings.Contains(nodes, n+"=True") {
			t.Errorf("%s is not Ready %s after %s stopped: %s", n, time.Since(stopped).Round(time.Second), gone, nodes)
		}
	}
	t.Logf("nodes %s after %s: %s", time.Since(stopped).Round(time.Second), gone, nodes)

	// The stopped server starts again with its data dir (and, for the joined one, the same
	// --server it was first given) and serves what was written while it was away.
	restarted := time.Now()
	if err := c.Start(down); err != nil {
		t.Fatal(err)
	}
	took = eventually(t, 3*time.Minute, gone+" serves again", func() string {
		out, err := kubectlVia(t, c, down, "", "-n", "ha", "get", "deployment", deploy, "-o", "name")
		if err != nil {
			return fmt.Sprintf("%v %s", err, out)
		}
		return ""
	})
	t.Logf("%s restarted and serves in %s", gone, took.Round(time.Millisecond))
	eventually(t, 3*time.Minute, "every node Ready", func() string {
		out, err := kubectlVia(t, c, down, "", "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
		if err != nil || strings.Count(out, "=True") != len(c.Nodes) {
			return fmt.Sprintf("%v %s", err, out)
		}
		return ""
	})
	t.Logf("all %d nodes Ready %s after %s restarted", len(c.Nodes), time.Since(restarted).Round(time.Second), gone)
	// The agent tunnels to the restarted server again.
	eventually(t, 2*time.Minute, "logs of "+pod+" through the restarted "+gone, func() string {
		if out, err := kubectlVia(t, c, down, "", "-n", "ha", "logs", pod); err != nil || !strings.Contains(out, "serving on") {
			return fmt.Sprintf("%v %s", err, out)
		}
		return ""
	})
	t.Logf("logs of %s on %s through the restarted %s %s after its restart", pod, agentName, gone, (time.Since(restarted)).Round(time.Second))
}

// serveDeployment is servePod run by a Deployment.
func serveDeployment(name, node string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: ha}
spec:
  replicas: 1
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      nodeSelector: {kubernetes.io/hostname: %s}
      containers: [{name: probe, image: %s, args: [serve, ":8080"]}]
`, name, name, name, node, probeImage)
}

// servePod is a pod serving HTTP on the node named, scheduled there by the scheduler.
func servePod(name, node string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: ha}
spec:
  nodeSelector: {kubernetes.io/hostname: %s}
  containers: [{name: probe, image: %s, args: [serve, ":8080"]}]
`, name, node, probeImage)
}

// whoAmI asks the i-th server who the bearer of tok is.
func whoAmI(t *testing.T, c *localcluster.Cluster, i int, tok string) string {
	t.Helper()
	n := c.Nodes[i]
	caPEM, err := os.ReadFile(filepath.Join(n.DataDir, "server", "tls", "server-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, "https://"+net.JoinHostPort(n.IP, "6443")+"/apis/authentication.k8s.io/v1/selfsubjectreviews",
		strings.NewReader(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("SelfSubjectReview at %s: %v", n.Name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Sprintf("%s: %s", resp.Status, body)
	}
	if _, rest, ok := strings.Cut(string(body), `"username":"`); ok {
		name, _, _ := strings.Cut(rest, `"`)
		return name
	}
	return string(body)
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// joinWithWrongTokenIsRefused starts a third server, on the host, with the first server's token
// hash but another secret: it must stop before writing any file of the cluster.
func joinWithWrongTokenIsRefused(t *testing.T, c *localcluster.Cluster, datastore string) {
	t.Helper()
	first := c.Nodes[0]
	tok, err := os.ReadFile(filepath.Join(first.DataDir, "server", "token"))
	if err != nil {
		t.Fatal(err)
	}
	hash, _, _ := strings.Cut(strings.TrimSpace(string(tok)), "::")
	dataDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Binary, "server", "--data-dir", dataDir, "--disable-agent",
		"--write-kubeconfig", filepath.Join(dataDir, "admin.yaml"), "--node-ip", "10.213.0.1",
		"--datastore-endpoint", datastore, "--server", "https://"+net.JoinHostPort(first.IP, "6443"),
		"--token", hash+"::server:not-the-secret")
	cmd.Env = append(os.Environ(), "DISTRO_DATA_DIR="+dataDir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "does not decrypt") {
		t.Errorf("a server joining with a wrong secret: %v\n%s", err, tail(string(out), 10))
	}
	for _, f := range bootstrap.Files(dataDir) {
		if _, err := os.Stat(f.Path); err == nil {
			t.Errorf("the refused server wrote %s", f.Path)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "admin.yaml")); err == nil {
		t.Error("the refused server wrote its admin kubeconfig")
	}
	t.Logf("refused: %s", tail(strings.TrimSpace(string(out)), 1))
}

// rotateOnOneServer rotates the encryption key on the first server: its keeper stores the new
// configuration in the datastore, so the first server starts again; the second, still holding
// the old file, refuses to start until it is started without it, and then takes the new one.
func rotateOnOneServer(t *testing.T, c *localcluster.Cluster) {
	t.Helper()
	first, second := c.Nodes[0], c.Nodes[1]
	const value = "written-before-the-rotation"
	mustKubectlVia(t, c, 0, "", "-n", "ha", "create", "secret", "generic", "rotated", "--from-literal=k="+value)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	rotate := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+first.Netns, "--", c.Binary, "secrets-encrypt", "rotate", "--data-dir", first.DataDir)
	rotate.Env = append(os.Environ(), "DISTRO_DATA_DIR="+first.DataDir)
	if out, err := rotate.CombinedOutput(); err != nil {
		t.Fatalf("secrets-encrypt rotate on %s: %v\n%s", first.Name, err, out)
	}
	t.Logf("rotated the key on %s in %s", first.Name, time.Since(start).Round(time.Second))
	// Step 1 (a key added) and step 4 (the old key dropped) each change the file.
	eventually(t, time.Minute, first.Name+" stores its rotated configuration", func() string {
		log, _ := os.ReadFile(first.Log)
		if n := strings.Count(string(log), "Stored this server's changed files"); n < 2 {
			return fmt.Sprintf("stored %d changes", n)
		}
		return ""
	})
	configFile := func(n localcluster.Node) string {
		return filepath.Join(n.DataDir, "server", "cred", "encryption-config.json")
	}
	rotated, err := os.ReadFile(configFile(first))
	if err != nil {
		t.Fatal(err)
	}

	// The second server, with the old file, refuses to start and says why.
	c.Stop(1)
	logBefore, _ := os.ReadFile(second.Log)
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, second.Name+" refuses to start with its old encryption config", func() string {
		log, _ := os.ReadFile(second.Log)
		if fresh := string(log[len(logBefore):]); !strings.Contains(fresh, "refusing to overwrite") || !strings.Contains(fresh, "encryption-config.json") {
			return tail(fresh, 3)
		}
		return ""
	})
	if old, _ := os.ReadFile(configFile(second)); bytes.Equal(old, rotated) {
		t.Error("the refusing server's file was replaced")
	}
	// Started without it, it takes the datastore's.
	c.Stop(1) // waits until the refused process has exited
	os.Remove(configFile(second))
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	// The first server starts again: its files are the datastore's.
	c.Stop(0)
	if err := c.Start(0); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1} {
		took := eventually(t, 3*time.Minute, "the Secret through "+c.Nodes[i].Name, func() string {
			out, err := kubectlVia(t, c, i, "", "-n", "ha", "get", "secret", "rotated", "-o", "jsonpath={.data.k}")
			if err != nil || out != base64.StdEncoding.EncodeToString([]byte(value)) {
				return fmt.Sprintf("%v %s", err, out)
			}
			return ""
		})
		t.Logf("the Secret reads right through %s %s after the restarts", c.Nodes[i].Name, took.Round(time.Second))
	}
	if got, _ := os.ReadFile(configFile(second)); !bytes.Equal(got, rotated) {
		t.Errorf("%s did not take the rotated configuration from the datastore", second.Name)
	}
}
