// Package nodebench measures a node: `distro server` with its own node from a fresh data dir to
// the node Ready and the cluster DNS answering, the memory of every process of the node after
// an idle time (distro, containerd, the shims and the pods they run), the SIGTERM → exit time,
// and a three-node cluster on this machine from nothing to every node Ready.
package nodebench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/distro-io/distro/distro/localcluster"
	"github.com/distro-io/distro/release/bench"
)

// Options say how bench:node runs.
type Options struct {
	Binary string // dist/distro
	// Airgap is the airgap image archive (CoreDNS), put into each node's images dir.
	Airgap string
	Runs   int
	Idle   time.Duration // after the node is Ready, before memory is sampled
	// Cluster also measures a server and two agents in network namespaces, once.
	Cluster bool
	Log     io.Writer
}

// Run measures and prints one report (also when a run fails, with what was measured).
func Run(ctx context.Context, o Options, w io.Writer) error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	r, err := bench.NewReport("bench:node", o.Runs)
	if err != nil {
		return err
	}
	var ready, dns, stops []time.Duration
	var pss, rss, anon, pssDistro []uint64
	var runErr error
	for i := 0; i < o.Runs && runErr == nil; i++ {
		var res result
		res, runErr = runOnce(ctx, o)
		if runErr != nil {
			break
		}
		fmt.Fprintf(o.Log, "run %d: Ready %s, DNS %s, stop %s\n%s", i+1, res.ready, res.dns, res.stop, res.mem)
		ready, dns, stops = append(ready, res.ready), append(dns, res.dns), append(stops, res.stop)
		pss, rss, anon = append(pss, res.mem.Pss), append(rss, res.mem.Rss), append(anon, res.mem.Anon)
		pssDistro = append(pssDistro, res.distroPss)
	}
	if len(ready) > 0 {
		r.Add("start → node Ready", bench.Durations(ready...))
		r.Add("start → cluster DNS available", bench.Durations(dns...))
		r.Add(fmt.Sprintf("PSS, every process of the node, %s after Ready", o.Idle), bench.Sizes(pss...))
		r.Add("  of which distro and containerd", bench.Sizes(pssDistro...))
		r.Add("RSS, summed", bench.Sizes(rss...))
		r.Add("anonymous, summed", bench.Sizes(anon...))
		r.Add("SIGTERM → exit (pods keep running)", bench.Durations(stops...))
		r.Note("One node: distro server with its node on the host, SQLite, CoreDNS from the airgap archive; memory sums PSS over distro, containerd, the shims and the pods (CoreDNS, pause).")
	}
	if runErr == nil && o.Cluster {
		var took time.Duration
		took, runErr = clusterOnce(ctx, o)
		if runErr == nil {
			r.Value("cluster:up 2 agents → 3 nodes Ready (1 run)", took.Round(100*time.Millisecond).String())
		}
	}
	if runErr != nil {
		r.Note("stopped early: %v", runErr)
	}
	_, err = r.WriteTo(w)
	if runErr != nil {
		return runErr
	}
	return err
}

type result struct {
	ready, dns, stop time.Duration
	mem              bench.TreeMem
	distroPss        uint64
}

func runOnce(ctx context.Context, o Options) (res result, err error) {
	// A short data dir: containerd's socket path must fit a unix socket.
	dir, err := os.MkdirTemp("", "nb")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	images := filepath.Join(dir, "agent", "images")
	if err := os.MkdirAll(images, 0o755); err != nil {
		return res, err
	}
	if err := os.Link(o.Airgap, filepath.Join(images, filepath.Base(o.Airgap))); err != nil {
		return res, fmt.Errorf("airgap archive: %w", err)
	}
	kubeconfig := filepath.Join(dir, "admin.yaml")
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	cmd := exec.Command(o.Binary, "server", "--data-dir", dir, "--write-kubeconfig", kubeconfig)
	cmd.Env = append(os.Environ(), "DISTRO_DATA_DIR="+dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		out, kerr := exec.Command(o.Binary, "killall", "--data-dir", dir).CombinedOutput()
		if kerr != nil && err == nil {
			err = fmt.Errorf("killall: %v: %s", kerr, out)
		}
	}()
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var cs *kubernetes.Clientset
	if res.ready, err = bench.Until(waitCtx, start, 100*time.Millisecond, func(ctx context.Context) error {
		select {
		case err := <-exited:
			return bench.Stop(fmt.Errorf("the server exited: %v", err))
		default:
		}
		if cs == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			cfg.Timeout = 5 * time.Second
			if cs, err = kubernetes.NewForConfig(cfg); err != nil {
				return err
			}
		}
		return nodeReady(ctx, cs)
	}); err != nil {
		return res, fmt.Errorf("node Ready: %w", err)
	}
	if res.dns, err = bench.Until(waitCtx, start, 100*time.Millisecond, func(ctx context.Context) error {
		d, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas < 1 {
			return fmt.Errorf("coredns not available")
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("cluster DNS: %w", err)
	}
	select {
	case <-time.After(o.Idle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	containerd, err := pidFile(filepath.Join(dir, "agent", "containerd", "containerd.pid"))
	if err != nil {
		return res, err
	}
	shims := shimsOf(filepath.Join(dir, "agent", "containerd", "containerd.sock"))
	if res.mem, err = bench.SampleTree(cmd.Process.Pid, append(shimTrees(shims), containerd)...); err != nil {
		return res, err
	}
	own, err := bench.SampleTree(cmd.Process.Pid, containerd)
	if err != nil {
		return res, err
	}
	res.distroPss = own.Pss
	stopAt := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		res.stop = time.Since(stopAt)
		if err != nil {
			return res, fmt.Errorf("exit after SIGTERM: %w", err)
		}
	case <-time.After(2 * time.Minute):
		return res, fmt.Errorf("no exit within 2 minutes of SIGTERM")
	}
	return res, nil
}

func nodeReady(ctx context.Context, cs *kubernetes.Clientset) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
	}
	return fmt.Errorf("no node Ready yet")
}

func pidFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

// shimsOf lists the runc shims serving containerd's socket.
func shimsOf(socket string) []int {
	var out []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmd, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(cmd), "containerd-shim") || !strings.Contains(string(cmd), socket) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// shimTrees is the shims and everything below them: the pods' processes.
func shimTrees(shims []int) []int {
	var out []int
	for _, s := range shims {
		d, err := bench.Descendants(s)
		if err == nil {
			out = append(out, d...)
		}
	}
	return out
}

// clusterOnce measures a server and two agents in network namespaces to every node Ready.
func clusterOnce(ctx context.Context, o Options) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "nbc")
	if err != nil {
		return 0, err
	}
	os.Remove(dir) // Up makes it
	start := time.Now()
	c, err := localcluster.Up(ctx, localcluster.Options{Name: "bench", Binary: o.Binary, Dir: dir, Agents: 2,
		Subnet: "10.214.0.0/24", Images: []string{o.Airgap}})
	if err != nil {
		return 0, err
	}
	took := time.Since(start)
	return took, localcluster.Down(c.Dir, nil)
}
