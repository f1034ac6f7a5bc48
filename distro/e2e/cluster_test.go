package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distro-io/distro/distro/localcluster"
	stepimages "github.com/distro-io/distro/release/steps/images"
)

// kubectlIn runs kubectl against a local cluster.
func kubectlIn(t *testing.T, c *localcluster.Cluster, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Binary, append([]string{"kubectl", "--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "DISTRO_DATA_DIR="+c.Server().DataDir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustKubectlIn(t *testing.T, c *localcluster.Cluster, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectlIn(t, c, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

const spreadDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: web
        image: ` + probeImage + `
        args: ["serve", ":8080"]
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeName: agent-2
  containers:
  - name: client
    image: ` + probeImage + `
`

func TestThreeNodeClusterSpreadsPodsAndReachesKubeletsThroughTunnels(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	bin, _, _ := binaryWithDataDir(t)
	dir, err := os.MkdirTemp("", "c")
	if err != nil {
		t.Fatal(err)
	}
	airgap := filepath.Join(filepath.Dir(bin), stepimages.Archive)
	ctx := context.Background()
	c, err := localcluster.Up(ctx, localcluster.Options{
		Name: "e2e", Binary: bin, Dir: dir, Agents: 2, Subnet: "10.211.0.0/24",
		Images: []string{airgap, buildProbeArchive(t)},
		Log:    t.Logf,
	})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() { checkTornDown(t, c) })

	nodes := mustKubectlIn(t, c, "", "get", "nodes", "-o", "wide")
	for _, n := range c.Nodes {
		if !strings.Contains(nodes, n.Name) {
			t.Errorf("node %s is missing:\n%s", n.Name, nodes)
		}
	}
	if strings.Count(nodes, expectedVersion(t)) != 3 {
		t.Errorf("get nodes -o wide does not show %s three times:\n%s", expectedVersion(t), nodes)
	}

	mustKubectlIn(t, c, spreadDeployment, "apply", "-f", "-")
	mustKubectlIn(t, c, "", "rollout", "status", "deployment/web", "--timeout=4m")
	mustKubectlIn(t, c, "", "wait", "--for=condition=Ready", "pod/client", "--timeout=3m")
	placed := mustKubectlIn(t, c, "", "get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.spec.nodeName} {.status.podIP} {.metadata.name}{\"\\n\"}{end}")
	byNode := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(placed), "\n") {
		f := strings.Fields(line)
		byNode[f[0]] = [2]string{f[1], f[2]}
	}
	if len(byNode) != 3 {
		t.Fatalf("the 3 replicas are not on 3 nodes:\n%s", placed)
	}

	// Pod to pod across nodes, and to the Service by name, from agent-2.
	for node, p := range byNode {
		out, err := kubectlIn(t, c, "", "exec", "client", "--", "/probe", "get", "http://"+net.JoinHostPort(p[0], "8080")+"/")
		if err != nil || strings.TrimSpace(out) != p[1] {
			t.Errorf("client on agent-2 → pod %s on %s: %v %q", p[1], node, err, out)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := kubectlIn(t, c, "", "exec", "client", "--", "/probe", "get", "http://web.default.svc.cluster.local/")
		if err == nil && strings.HasPrefix(out, "web-") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the web Service by name from agent-2: %v\n%s", err, out)
		}
		time.Sleep(2 * time.Second)
	}

	// Logs through the tunnel of each agent's kubelet.
	for _, node := range []string{"agent-1", "agent-2"} {
		if out := mustKubectlIn(t, c, "", "logs", byNode[node][1]); !strings.Contains(out, "serving on :8080") {
			t.Errorf("logs of %s on %s: %q", byNode[node][1], node, out)
		}
	}
	// Port-forward through the tunnel to a pod on an agent: the stream goes apiserver → tunnel
	// → kubelet → containerd's stream server on that node's loopback.
	if body := portForwardGet(t, c, byNode["agent-1"][1], "8080", "/"); strings.TrimSpace(body) != byNode["agent-1"][1] {
		t.Errorf("port-forward to %s on agent-1 answered %q", byNode["agent-1"][1], body)
	}
	// Kubelet stats through the tunnel (what `kubectl top` reads through metrics-server).
	if out := mustKubectlIn(t, c, "", "get", "--raw", "/api/v1/nodes/agent-1/proxy/stats/summary"); !strings.Contains(out, `"nodeName": "agent-1"`) {
		t.Errorf("stats summary of agent-1: %.300s", out)
	}
	// No kubelet port is reachable from outside its node's namespace.
	for _, n := range c.Nodes {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(n.IP, "10250"), 2*time.Second); err == nil {
			conn.Close()
			t.Errorf("the kubelet of %s answers on %s:10250", n.Name, n.IP)
		}
	}

	// A join with a wrong token is refused, and says so.
	nodeToken, err := os.ReadFile(filepath.Join(c.Server().DataDir, "server", "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	hash, _, _ := strings.Cut(strings.TrimSpace(string(nodeToken)), "::")
	bad := exec.Command(bin, "agent", "--server", "https://"+net.JoinHostPort(c.Server().IP, "6443"),
		"--token", hash+"::node:wrong-secret", "--data-dir", t.TempDir(), "--node-name", "intruder", "--node-ip", "10.211.0.1")
	bad.Env = append(os.Environ(), "DISTRO_DATA_DIR="+t.TempDir())
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refused the token") {
		t.Errorf("an agent with a wrong token: %v\n%s", err, tail(string(out), 10))
	}

	// Restarting an agent leaves its pods running: the same containers afterwards.
	containers := func() string {
		return mustKubectlIn(t, c, "", "get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].containerID} {end}")
	}
	before := containers()
	c.Stop(1)
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	mustKubectlIn(t, c, "", "wait", "--for=condition=Ready", "node/agent-1", "--timeout=3m")
	mustKubectlIn(t, c, "", "wait", "--for=condition=Ready", "pod", "--all", "--timeout=3m")
	if after := containers(); after != before {
		t.Errorf("containers changed across an agent restart:\nbefore %s\nafter  %s", before, after)
	}
	// The restarted kubelet serves logs once it has synced its pods again.
	deadline = time.Now().Add(time.Minute)
	for {
		out, err := kubectlIn(t, c, "", "logs", byNode["agent-1"][1])
		if err == nil && strings.Contains(out, "serving on :8080") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs through the restarted agent's tunnel: %v %q", err, out)
		}
		time.Sleep(2 * time.Second)
	}
}

var forwarding = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)

// portForwardGet runs `kubectl port-forward` to the pod's port on this host and returns the
// body of a GET of path through it.
func portForwardGet(t *testing.T, c *localcluster.Cluster, pod, port, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Binary, "kubectl", "--kubeconfig", c.Kubeconfig, "port-forward", "pod/"+pod, ":"+port)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	local := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := forwarding.FindStringSubmatch(sc.Text()); m != nil {
				local <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	var lport string
	select {
	case lport = <-local:
	case <-ctx.Done():
		t.Fatalf("kubectl port-forward to %s never forwarded: %s", pod, stderr.String())
	}
	resp, err := http.Get("http://" + net.JoinHostPort("127.0.0.1", lport) + path)
	if err != nil {
		t.Fatalf("GET through port-forward to %s: %v (kubectl: %s)", pod, err, stderr.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// checkTornDown takes the cluster down and checks nothing of it is left on the host.
func checkTornDown(t *testing.T, c *localcluster.Cluster) {
	// The cluster's directory goes with it: first report what the nodes said of a failure.
	if t.Failed() {
		c.ReportLogs(t.Logf, keepLogsDir(t))
	}
	if err := localcluster.Down(c.Dir, t.Logf); err != nil {
		t.Errorf("cluster down: %v", err)
	}
	for _, n := range c.Nodes {
		if syscall.Kill(n.Pid, 0) == nil {
			if stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.Pid)); !strings.Contains(string(stat), ") Z") {
				t.Errorf("%s (pid %d) still runs", n.Name, n.Pid)
			}
		}
		if _, err := os.Stat("/run/netns/" + n.Netns); err == nil {
			t.Errorf("network namespace %s is left", n.Netns)
		}
		if _, err := net.InterfaceByName(n.Veth); err == nil {
			t.Errorf("veth %s is left", n.Veth)
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", n.CgroupRoot)); err == nil {
			t.Errorf("cgroup %s is left", n.CgroupRoot)
		}
	}
	if _, err := net.InterfaceByName(c.Bridge); err == nil {
		t.Errorf("bridge %s is left", c.Bridge)
	}
	if _, err := os.Stat(c.Dir); err == nil {
		t.Errorf("%s is left", c.Dir)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), c.Dir+"/") {
		t.Errorf("mounts under %s are left", c.Dir)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if cmd, _ := os.ReadFile(p); strings.Contains(string(cmd), c.Dir+"/") {
			t.Errorf("a process of the cluster is left: %s", strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
}
