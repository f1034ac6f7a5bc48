// Package nodebench measures a node: `distro server` with its own node from a fresh data dir to
// the node Ready and the cluster DNS answering, the memory of every process of the node after
// an idle time (distro, containerd, the shims and the pods they run), how long pods take from
// creation to Running, the SIGTERM → exit time, a restart on the same data dir to the node
// Ready again, and a three-node cluster on this machine from nothing to every node Ready.
package nodebench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/distro-io/distro/distro/images"
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
	// Pods is how many pods (the pause image, which every node holds) are created at once to
	// measure create → Running; 0 skips it.
	Pods int
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
	var ready, dns, stops, restarts, podStarts, podsAll []time.Duration
	var pss, rss, anon, pssDistro []uint64
	var runErr error
	for i := 0; i < o.Runs && runErr == nil; i++ {
		var res result
		res, runErr = runOnce(ctx, o)
		if runErr != nil {
			break
		}
		fmt.Fprintf(o.Log, "run %d: Ready %s, DNS %s, %d pods Running in %s, stop %s, restart → Ready %s\n%s", i+1, res.ready, res.dns, len(res.podStarts), res.podsAll, res.stop, res.restart, res.mem)
		ready, dns, stops = append(ready, res.ready), append(dns, res.dns), append(stops, res.stop)
		restarts, podStarts = append(restarts, res.restart), append(podStarts, res.podStarts...)
		if o.Pods > 0 {
			podsAll = append(podsAll, res.podsAll)
		}
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
		if o.Pods > 0 {
			r.Add(fmt.Sprintf("pod create → Running, each of %d created at once (all runs)", o.Pods), bench.Durations(podStarts...))
			r.Add("  p90 of those", bench.Durations(percentile(podStarts, 0.9)))
			r.Add(fmt.Sprintf("create → all %d Running", o.Pods), bench.Durations(podsAll...))
		}
		r.Add("SIGTERM → exit (pods keep running)", bench.Durations(stops...))
		r.Add("restart on the same data dir → node Ready (fresh heartbeat)", bench.Durations(restarts...))
		r.Note("One node: distro server with its node on the host, SQLite, CoreDNS from the airgap archive; memory sums PSS over distro, containerd, the shims and the pods (CoreDNS, pause).")
		r.Note("%s", bench.GOGCNote())
		r.Note("%s", bench.StartupPagesNote())
		r.Note("The kubelet evicts at absolute free space (localcluster.EvictionArg): with upstream's percentages a host disk that is mostly used elsewhere puts the node under DiskPressure, and no new pod is scheduled.")
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
	ready, dns, stop, restart time.Duration
	podStarts                 []time.Duration
	podsAll                   time.Duration
	mem                       bench.TreeMem
	distroPss                 uint64
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
	cmd := exec.Command(o.Binary, "server", "--data-dir", dir, "--write-kubeconfig", kubeconfig, localcluster.EvictionArg)
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
	if o.Pods > 0 {
		podsCtx, cancelPods := context.WithTimeout(ctx, 5*time.Minute)
		res.podStarts, res.podsAll, err = startPods(podsCtx, cs, o.Pods)
		cancelPods()
		if err != nil {
			return res, fmt.Errorf("pod start latency: %w", err)
		}
	}
	if res.stop, err = stop(cmd, exited); err != nil {
		return res, err
	}

	// The same data dir again: certificates, datastore, images and the pods are all there.
	cmd = exec.Command(o.Binary, "server", "--data-dir", dir, "--write-kubeconfig", kubeconfig, localcluster.EvictionArg)
	cmd.Env = append(os.Environ(), "DISTRO_DATA_DIR="+dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	restartAt := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The Ready condition survives the stop in the datastore: only a heartbeat written after
	// the restart says the new kubelet reports it.
	since := restartAt.Truncate(time.Second)
	restartCtx, cancelRestart := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelRestart()
	if res.restart, err = bench.Until(restartCtx, restartAt, 100*time.Millisecond, func(ctx context.Context) error {
		select {
		case err := <-exited:
			return bench.Stop(fmt.Errorf("the restarted server exited: %v", err))
		default:
		}
		return nodeReadySince(ctx, cs, since)
	}); err != nil {
		return res, fmt.Errorf("node Ready after a restart: %w", err)
	}
	if _, err := stop(cmd, exited); err != nil {
		return res, err
	}
	return res, nil
}

// stop sends SIGTERM and waits for the exit.
func stop(cmd *exec.Cmd, exited <-chan error) (time.Duration, error) {
	at := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return 0, fmt.Errorf("exit after SIGTERM: %w", err)
		}
		return time.Since(at), nil
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("no exit within 2 minutes of SIGTERM")
	}
}

// startPods creates n pause pods at once and returns each one's create → Running time (as
// this client first sees it Running) and the time until all are Running.
func startPods(ctx context.Context, cs *kubernetes.Clientset, n int) ([]time.Duration, time.Duration, error) {
	const ns = "bench-pods"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, 0, err
	}
	// The default service account is made by the controller manager; pods wait for it.
	if _, err := bench.Until(ctx, time.Now(), 100*time.Millisecond, func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return nil, 0, err
	}
	created := map[string]time.Time{}
	start := time.Now()
	for i := 0; i < n; i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%02d", i)},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "pause", Image: images.Pause, ImagePullPolicy: corev1.PullNever}},
			},
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return nil, 0, err
		}
		created[pod.Name] = time.Now()
	}
	running := map[string]time.Duration{}
	all, err := bench.Until(ctx, start, 100*time.Millisecond, func(ctx context.Context) error {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			if _, seen := running[p.Name]; !seen && p.Status.Phase == corev1.PodRunning {
				running[p.Name] = time.Since(created[p.Name])
			}
		}
		if len(running) < n {
			var waiting []string
			for _, p := range pods.Items {
				if _, ok := running[p.Name]; !ok {
					waiting = append(waiting, fmt.Sprintf("%s %s %s", p.Name, p.Status.Phase, podWaitReason(p)))
				}
			}
			return fmt.Errorf("%d of %d pods Running; waiting: %s", len(running), n, strings.Join(waiting, ", "))
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	var ds []time.Duration
	for _, d := range running {
		ds = append(ds, d)
	}
	return ds, all, nil
}

// podWaitReason is why a pod's first container is not running, or its scheduling condition.
func podWaitReason(p corev1.Pod) string {
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Waiting != nil {
			return c.State.Waiting.Reason + ": " + c.State.Waiting.Message
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			return string(c.Type) + ": " + c.Message
		}
	}
	return ""
}

// percentile is the q-quantile (nearest rank) of ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// nodeReadySince returns nil once a node is Ready with a heartbeat at or after since.
func nodeReadySince(ctx context.Context, cs *kubernetes.Clientset, since time.Time) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && !c.LastHeartbeatTime.Time.Before(since) {
				return nil
			}
		}
	}
	return fmt.Errorf("no node Ready since %s yet", since.Format(time.TimeOnly))
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
