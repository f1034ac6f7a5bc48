// Package localcluster brings up a cluster of several distro nodes on one machine: each node
// (a server and N agents) in a network namespace of its own, wired to a host bridge with a veth
// pair, with its own data dir, containerd, kubelet root and cgroup root. Tests and the
// conformance run use it; `mage cluster:up` and `cluster:down` drive it.
//
// Nodes share the host's mount namespace: every path a node writes is under its data dir
// (containerd keeps even the pods' network namespaces there, and each kubelet gets its own
// pod logs dir: a kubelet removes the log dirs of pods it does not know), so nothing
// collides, and the cgroup hierarchy stays visible to each kubelet.
package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/distro-io/distro/distro/version"
)

// Defaults.
const (
	DefaultDir    = "/var/lib/" + version.Program + "-cluster"
	DefaultSubnet = "10.210.0.0/24"
	// DefaultName prefixes the cluster's bridge (distro0), namespaces and veths.
	DefaultName = version.Program
	// stateFile records what Up made, for Down.
	stateFile = "cluster.json"
)

// EvictionArg is every node's hard eviction thresholds: absolute free space instead of
// upstream's percentages (imagefs.available<15%, nodefs.available<10%). The nodes share the
// host's disk, and on a machine whose large disk is mostly used by other things the
// percentages are crossed from the start: the kubelet reports DiskPressure, taints the node
// and evicts every pod as soon as it is admitted, which tests the machine rather than the
// distribution. The memory and inode thresholds are upstream's; a partial eviction-hard
// would leave the others unset.
const EvictionArg = "--kubelet-arg=eviction-hard=memory.available<100Mi,nodefs.available<2Gi,nodefs.inodesFree<5%,imagefs.available<2Gi,imagefs.inodesFree<5%"

// Options describe the cluster to bring up.
type Options struct {
	// Name prefixes the host bridge (<name>0), the namespaces (<name>-<node>) and the veths, so
	// clusters with different names and subnets coexist; DefaultName when empty. At most 8
	// characters: link names are short.
	Name string
	// Binary is the distro release file (dist/distro).
	Binary string
	// Dir holds every node's data dir and log, the state file and the cluster's kubeconfig.
	Dir string
	// Servers is the number of servers (1 when zero); more than one need Datastore, an
	// external datastore they share (the first initialises the cluster, the others join it).
	Servers int
	// Datastore is the servers' --datastore-endpoint; empty means each server's SQLite.
	Datastore string
	// DatastoreAt, when set, starts the servers' datastore once the host's bridge is up and
	// returns its endpoint, which replaces Datastore. host is the host's address on the bridge,
	// which every node reaches: the datastore listens there. What it starts is the caller's to
	// stop, after Down.
	DatastoreAt func(ctx context.Context, host net.IP) (string, error)
	// Agents is the number of agents besides the servers.
	Agents int
	// Subnet is the nodes' network; the host takes its first address on the bridge.
	Subnet string
	// Images are archives put into every node's images dir (the airgap archive, test images).
	Images []string
	// ServerArgs and AgentArgs are extra arguments of the nodes' commands.
	ServerArgs, AgentArgs []string
	// Log receives progress lines.
	Log func(format string, args ...any)
	// KeepLogs, when set, is a directory that keeps the whole node logs should Up fail; an
	// excerpt of each goes to Log either way.
	KeepLogs string
}

// Node is one node of the cluster.
type Node struct {
	Name    string `json:"name"`
	Role    string `json:"role"` // server or agent
	IP      string `json:"ip"`
	Netns   string `json:"netns"`
	Veth    string `json:"veth"`
	DataDir string `json:"dataDir"`
	Log     string `json:"log"`
	Pid     int    `json:"pid"`
	// CgroupRoot is the kubelet's cgroup root, one per node: the nodes share the host's cgroups.
	CgroupRoot string `json:"cgroupRoot"`
	// Args is the node's command line after the binary.
	Args []string `json:"args"`
}

// Cluster is what Up made.
type Cluster struct {
	Dir        string `json:"dir"`
	Binary     string `json:"binary"`
	Bridge     string `json:"bridge"`
	Subnet     string `json:"subnet"`
	Kubeconfig string `json:"kubeconfig"`
	Nodes      []Node `json:"nodes"`
}

// Server is the cluster's server node.
func (c *Cluster) Server() Node { return c.Nodes[0] }

// Up creates the bridge, the namespaces and the nodes, starts the server and then the agents,
// and returns once every node is Ready. On failure it takes down what it made.
func Up(ctx context.Context, o Options) (_ *Cluster, err error) {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.Subnet == "" {
		o.Subnet = DefaultSubnet
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if len(o.Name) > 8 || strings.ContainsAny(o.Name, " /") {
		return nil, fmt.Errorf("name %q: at most 8 characters, no spaces or slashes", o.Name)
	}
	if o.Servers == 0 {
		o.Servers = 1
	}
	if o.Agents < 0 || o.Servers < 0 || o.Servers+o.Agents > 50 {
		return nil, fmt.Errorf("servers %d, agents %d: at most 50 nodes", o.Servers, o.Agents)
	}
	if o.Servers > 1 && o.Datastore == "" && o.DatastoreAt == nil {
		return nil, fmt.Errorf("servers %d: several servers share an external datastore; set its endpoint", o.Servers)
	}
	bin, err := filepath.Abs(o.Binary)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("distro binary: %w", err)
	}
	if _, err := os.Stat(filepath.Join(o.Dir, stateFile)); err == nil {
		return nil, fmt.Errorf("a cluster is already up in %s: take it down first (cluster:down)", o.Dir)
	}
	_, subnet, err := net.ParseCIDR(o.Subnet)
	if err != nil || subnet.IP.To4() == nil {
		return nil, fmt.Errorf("subnet %q: not an IPv4 CIDR", o.Subnet)
	}
	if ones, _ := subnet.Mask.Size(); ones > 24 {
		return nil, fmt.Errorf("subnet %s: too small, use a /24 or larger", o.Subnet)
	}
	c := &Cluster{Dir: o.Dir, Binary: bin, Bridge: o.Name + "0", Subnet: subnet.String(), Kubeconfig: filepath.Join(o.Dir, "kubeconfig.yaml")}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.ReportLogs(o.Log, o.KeepLogs)
			if derr := c.down(o.Log); derr != nil {
				err = errors.Join(err, fmt.Errorf("taking down the partial cluster: %w", derr))
			}
		}
	}()
	for i := 0; i < o.Servers+o.Agents; i++ {
		n := Node{Role: "agent", Name: fmt.Sprintf("agent-%d", i-o.Servers+1)}
		if i < o.Servers {
			n.Role, n.Name = "server", fmt.Sprintf("server-%d", i)
		}
		n.IP = addr(subnet, 10+i).String()
		n.Netns = o.Name + "-" + n.Name
		n.Veth = fmt.Sprintf("%sv%d", o.Name, i)
		n.DataDir = filepath.Join(o.Dir, n.Name)
		n.Log = filepath.Join(o.Dir, n.Name+".log")
		n.CgroupRoot = "/" + o.Name + "-" + n.Name
		c.Nodes = append(c.Nodes, n)
	}
	if err := c.save(); err != nil {
		return nil, err
	}
	gw := addr(subnet, 1)
	if err := makeBridge(c.Bridge, &net.IPNet{IP: gw, Mask: subnet.Mask}); err != nil {
		return nil, err
	}
	if o.DatastoreAt != nil {
		if o.Datastore, err = o.DatastoreAt(ctx, gw); err != nil {
			return nil, fmt.Errorf("starting the datastore: %w", err)
		}
	}
	configFile := filepath.Join(o.Dir, "empty-config.yaml")
	if err := os.WriteFile(configFile, nil, 0o600); err != nil {
		return nil, err
	}
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if err := makeNode(c.Bridge, n, subnet.Mask, gw); err != nil {
			return nil, err
		}
		if err := linkImages(o.Images, filepath.Join(n.DataDir, "agent", "images")); err != nil {
			return nil, err
		}
	}

	first := c.Nodes[0]
	firstURL := "https://" + net.JoinHostPort(first.IP, "6443")
	for i := range c.Nodes {
		n := &c.Nodes[i]
		o.Log("starting %s at %s", n.Name, n.IP)
		if n.Role == "server" {
			n.Args = []string{"server", "--data-dir", n.DataDir, "--node-name", n.Name, "--node-ip", n.IP,
				"--write-kubeconfig", filepath.Join(n.DataDir, "admin.yaml"), "--kubelet-arg=cgroup-root=" + n.CgroupRoot,
				"--pod-logs-dir", filepath.Join(n.DataDir, "pod-logs"), EvictionArg, "--config", configFile}
			if o.Datastore != "" {
				n.Args = append(n.Args, "--datastore-endpoint", o.Datastore)
			}
			if i > 0 {
				// Later servers join the first with its server token.
				n.Args = append(n.Args, "--server", firstURL, "--token-file", filepath.Join(first.DataDir, "server", "token"))
			}
			n.Args = append(n.Args, o.ServerArgs...)
		} else {
			n.Args = append([]string{"agent", "--server", firstURL, "--token-file", filepath.Join(first.DataDir, "server", "node-token"),
				"--data-dir", n.DataDir, "--node-name", n.Name, "--node-ip", n.IP, "--kubelet-arg=cgroup-root=" + n.CgroupRoot,
				"--pod-logs-dir", filepath.Join(n.DataDir, "pod-logs"), EvictionArg, "--config", configFile}, o.AgentArgs...)
		}
		if n.Pid, err = start(bin, *n); err != nil {
			return nil, err
		}
		if err := c.save(); err != nil {
			return nil, err
		}
		if n.Role == "server" {
			// Tokens exist and the API answers once the server is ready; the next node needs both.
			if err := c.waitServer(ctx, *n); err != nil {
				return nil, err
			}
		}
	}
	if err := c.waitReady(ctx, o.Log); err != nil {
		return nil, err
	}
	return c, nil
}

// addr is the i-th address of subnet.
func addr(subnet *net.IPNet, i int) net.IP {
	ip := make(net.IP, 4)
	copy(ip, subnet.IP.To4())
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	v += uint32(i)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
}

func makeBridge(name string, gw *net.IPNet) error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: gw}); err != nil {
		return fmt.Errorf("bridge %s address %s: %w", name, gw, err)
	}
	return netlink.LinkSetUp(br)
}

// makeNode creates the node's namespace and veth pair: the host end on the bridge, the other
// end as eth0 in the namespace with the node's address and a default route through the host.
func makeNode(bridge string, n *Node, mask net.IPMask, gw net.IP) error {
	if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
		return err
	}
	ns, err := newNamedNetns(n.Netns)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", n.Netns, err)
	}
	defer ns.Close()
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return err
	}
	peer := n.Veth + "p"
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n.Veth, MasterIndex: br.Attrs().Index}, PeerName: peer}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth %s: %w", n.Veth, err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return err
	}
	p, err := netlink.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetNsFd(p, int(ns)); err != nil {
		return err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	if p, err = h.LinkByName(peer); err != nil {
		return err
	}
	if err := h.LinkSetName(p, "eth0"); err != nil {
		return err
	}
	ip := net.ParseIP(n.IP).To4()
	if err := h.AddrAdd(p, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: mask}}); err != nil {
		return err
	}
	if err := h.LinkSetUp(p); err != nil {
		return err
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return err
	}
	return h.RouteAdd(&netlink.Route{LinkIndex: p.Attrs().Index, Gw: gw})
}

// newNamedNetns creates /run/netns/<name> without entering it (netns.NewNamed switches the
// calling thread, which must then be switched back).
func newNamedNetns(name string) (netns.NsHandle, error) {
	done := make(chan struct{})
	var h netns.NsHandle
	var err error
	go func() {
		defer close(done)
		// The thread ends up in the new namespace; it is locked and never unlocked, so the
		// runtime throws it away when this goroutine ends.
		runtime.LockOSThread()
		h, err = netns.NewNamed(name)
	}()
	<-done
	return h, err
}

// linkImages hard-links (or copies) the archives into the node's images dir.
func linkImages(archives []string, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, a := range archives {
		dst := filepath.Join(dir, filepath.Base(a))
		if err := os.Link(a, dst); err == nil {
			continue
		}
		data, err := os.ReadFile(a)
		if err != nil {
			return fmt.Errorf("image archive: %w", err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// start runs the node's command in its network namespace (nsenter, so the mounts stay the
// host's), in a session of its own so it outlives the caller, logging to its log file. Each node
// also has a UTS namespace of its own, with the node's name as its host name, as separate
// machines would: the apiserver, for one, names its identity lease after the host name.
func start(bin string, n Node) (int, error) {
	logFile, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return 0, fmt.Errorf("nsenter (Debian package util-linux) runs the nodes in their network namespaces: %w", err)
	}
	args := []string{"--net=/run/netns/" + n.Netns, "--",
		"/bin/sh", "-c", `echo "$0" > /proc/sys/kernel/hostname && exec "$@"`, n.Name, bin}
	cmd := exec.Command(nsenter, append(args, n.Args...)...)
	cmd.Env = append(os.Environ(), "DISTRO_DATA_DIR="+n.DataDir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: syscall.CLONE_NEWUTS}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", n.Name, err)
	}
	pid := cmd.Process.Pid
	cmd.Process.Release()
	return pid, nil
}

// waitServer waits for the server's admin kubeconfig and /readyz, then writes the cluster's
// kubeconfig, which reaches the apiserver at the server's address through the bridge.
func (c *Cluster) waitServer(ctx context.Context, server Node) error {
	admin := filepath.Join(server.DataDir, "admin.yaml")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if err := c.writeKubeconfig(admin, server, server.Name == c.Nodes[0].Name); err == nil {
			if cs, err := clientFor(filepath.Join(server.DataDir, "kubeconfig.yaml")); err == nil {
				if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err == nil {
					return nil
				}
			}
		}
		if !alive(server.Pid) {
			return fmt.Errorf("%s exited; its log %s ends:\n%s", server.Name, server.Log, tailFile(server.Log, 30))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready within 3 minutes; its log %s ends:\n%s", server.Name, server.Log, tailFile(server.Log, 30))
		}
		time.Sleep(time.Second)
	}
}

// writeKubeconfig writes the server's admin kubeconfig, pointing at its address, beside its
// admin.yaml (kubeconfig.yaml) and, for the first server, as the cluster's kubeconfig.
func (c *Cluster) writeKubeconfig(admin string, server Node, cluster bool) error {
	cfg, err := clientcmd.LoadFromFile(admin)
	if err != nil {
		return err
	}
	for _, cl := range cfg.Clusters {
		cl.Server = "https://" + net.JoinHostPort(server.IP, "6443")
	}
	if err := clientcmd.WriteToFile(*cfg, filepath.Join(server.DataDir, "kubeconfig.yaml")); err != nil {
		return err
	}
	if !cluster {
		return nil
	}
	return clientcmd.WriteToFile(*cfg, c.Kubeconfig)
}

// Client is a client of the cluster as its admin, through the first server.
func (c *Cluster) Client() (*kubernetes.Clientset, error) { return clientFor(c.Kubeconfig) }

func clientFor(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 15 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// waitReady waits until every node is registered and Ready.
func (c *Cluster) waitReady(ctx context.Context, log func(string, ...any)) error {
	cs, err := c.Client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ready, notReady := c.readiness(ctx, cs)
		if len(notReady) == 0 {
			log("%d nodes Ready", len(ready))
			return nil
		}
		for _, n := range c.Nodes {
			if !alive(n.Pid) {
				return fmt.Errorf("%s exited; its log %s ends:\n%s", n.Name, n.Log, tailFile(n.Log, 30))
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not Ready within 5 minutes: %s", strings.Join(notReady, ", "))
		}
		time.Sleep(2 * time.Second)
	}
}

func (c *Cluster) readiness(ctx context.Context, cs *kubernetes.Clientset) (ready, notReady []string) {
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	status := map[string]bool{}
	if err == nil {
		for _, n := range list.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					status[n.Name] = cond.Status == corev1.ConditionTrue
				}
			}
		}
	}
	for _, n := range c.Nodes {
		if status[n.Name] {
			ready = append(ready, n.Name)
		} else {
			notReady = append(notReady, n.Name)
		}
	}
	return ready, notReady
}

func (c *Cluster) save() error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.Dir, stateFile))
}

// Load reads the cluster that is up in dir.
func Load(dir string) (*Cluster, error) {
	if dir == "" {
		dir = DefaultDir
	}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("no cluster is up in %s: %w", dir, err)
	}
	var c Cluster
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return &c, nil
}

// Down stops the cluster in dir and removes everything it made: processes, containers, mounts,
// namespaces, links, cgroups and the dir itself.
func Down(dir string, log func(string, ...any)) error {
	if log == nil {
		log = func(string, ...any) {}
	}
	c, err := Load(dir)
	if err != nil {
		return err
	}
	return c.down(log)
}

func (c *Cluster) down(log func(string, ...any)) error {
	var errs []error
	// Agents first, the servers last.
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		n := c.Nodes[i]
		if n.Pid > 0 && alive(n.Pid) {
			stop(n.Pid, time.Minute)
			log("stopped %s", n.Name)
		}
	}
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		n := c.Nodes[i]
		if _, err := os.Stat(n.DataDir); err == nil {
			if err := c.killall(n); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
			}
		}
		if err := netns.DeleteNamed(n.Netns); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("network namespace %s: %w", n.Netns, err))
		}
		if l, err := netlink.LinkByName(n.Veth); err == nil {
			netlink.LinkDel(l)
		}
	}
	if l, err := netlink.LinkByName(c.Bridge); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: %w", c.Bridge, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	log("removed the bridge, %d namespaces and %s", len(c.Nodes), c.Dir)
	return os.RemoveAll(c.Dir)
}

// killall runs distro killall for the node inside its namespace (its links and rules are there).
func (c *Cluster) killall(n Node) error {
	args := []string{"--", c.Binary, "killall", "--data-dir", n.DataDir, "--cgroup-root", n.CgroupRoot}
	if _, err := os.Stat("/run/netns/" + n.Netns); err == nil {
		args = append([]string{"--net=/run/netns/" + n.Netns}, args...)
	}
	cmd := exec.Command("nsenter", args...)
	cmd.Env = append(os.Environ(), "DISTRO_DATA_DIR="+n.DataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("killall: %w: %s", err, out)
	}
	return nil
}

// Stop sends SIGTERM to the i-th node's process and waits for it to exit.
func (c *Cluster) Stop(i int) { stop(c.Nodes[i].Pid, time.Minute) }

// Start starts the i-th node again, with the command line it was first started with.
func (c *Cluster) Start(i int) error {
	n := &c.Nodes[i]
	if alive(n.Pid) {
		return fmt.Errorf("%s is running (pid %d)", n.Name, n.Pid)
	}
	pid, err := start(c.Binary, *n)
	if err != nil {
		return err
	}
	n.Pid = pid
	return c.save()
}

func stop(pid int, timeout time.Duration) {
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		for alive(pid) {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// alive says whether pid is running (and not a zombie, which a released child becomes until
// init reaps it).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func tailFile(path string, n int) string {
	data, _ := os.ReadFile(path)
	return lastLines(strings.TrimRight(string(data), "\n"), n)
}
