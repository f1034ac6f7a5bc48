package containerd_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	agent "github.com/distro-io/distro/distro/agent/containerd"
	"github.com/distro-io/distro/distro/images"
	"github.com/distro-io/distro/distro/payload"
	releaseimages "github.com/distro-io/distro/release/images"
	"github.com/distro-io/distro/release/upstream"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// payloadBin unpacks the payload of the binary under test once, into a dir shared by the tests.
func payloadBin(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: containerd mounts snapshots and owns its sockets")
	}
	bin := os.Getenv("DISTRO_BINARY")
	if bin == "" {
		t.Skip("DISTRO_BINARY is not set: `go tool mage test` builds dist/distro and sets it")
	}
	binOnce.Do(func() {
		var dir string
		if dir, binErr = os.MkdirTemp("", "distro-containerd-payload-"); binErr != nil {
			return
		}
		var p *payload.Payload
		if p, binErr = payload.Open(bin); binErr != nil {
			return
		}
		var r payload.Result
		r, binErr = p.Ensure(dir)
		binDir = r.BinDir
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(filepath.Dir(filepath.Dir(filepath.Dir(binDir)))) // <tmp>/data/<id>/bin
	}
	os.Exit(code)
}

// pauseArchive writes the pause image, built from the locked Kubernetes source, to path.
func pauseArchive(t *testing.T, path string) {
	t.Helper()
	// go test runs in the package directory (file names from runtime.Caller are not paths under -trimpath).
	lock, err := upstream.Load(filepath.Join("..", "..", "..", "upstream.lock"))
	if err != nil {
		t.Fatal(err)
	}
	k := lock.Kubernetes()
	dir, err := releaseimages.ModuleDir(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	pause, err := releaseimages.Pause(context.Background(), releaseimages.PauseOptions{KubernetesDir: dir, KubernetesVersion: k.Version})
	if err != nil {
		t.Fatal(err)
	}
	if err := releaseimages.WriteArchiveFile(path, []releaseimages.Named{pause}); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, opts agent.Options) (*agent.Component, time.Duration) {
	t.Helper()
	cfg, err := opts.Complete()
	if err != nil {
		t.Fatal(err)
	}
	c := agent.New(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	begin := time.Now()
	if err := c.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Terminate(context.Background()); err != nil {
			t.Errorf("terminate: %v", err)
		}
	})
	var last error
	for ctx.Err() == nil {
		if last = c.Ready(ctx); last == nil {
			return c, time.Since(begin)
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(cfg.LogFile)
	t.Fatalf("containerd not ready: %v\n%s", last, log)
	return nil, 0
}

func TestContainerd(t *testing.T) {
	bin := payloadBin(t)
	dataDir := t.TempDir()
	imagesDir := filepath.Join(dataDir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pauseArchive(t, filepath.Join(imagesDir, "pause.tar.zst"))
	opts := agent.Options{DataDir: dataDir, BinDir: bin, Executable: filepath.Join(bin, "distro")}

	c, took := start(t, opts)
	t.Logf("start to ready, pause imported: %s; settings %+v; memory %s", took, c.Settings(), memory(c.Pid()))
	if got := c.Imports(); len(got.Imported) != 1 || len(got.Images) != 1 || got.Images[0] != images.Pause {
		t.Errorf("first start imported %+v, want the pause archive and image", got)
	}

	// ctr, the same binary under another name, talks to it.
	out, err := exec.Command(filepath.Join(bin, "distro"), "ctr", "-a", c.Socket(), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Server:") || !strings.Contains(string(out), "v2.") {
		t.Errorf("ctr version: %v\n%s", err, out)
	}
	out, err = exec.Command(filepath.Join(bin, "distro"), "ctr", "-a", c.Socket(), "-n", agent.Namespace, "images", "ls", "-q").CombinedOutput()
	if err != nil || !strings.Contains(string(out), images.Pause) {
		t.Errorf("ctr images ls: %v\n%s", err, out)
	}

	client, err := containerd.New(c.Socket())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), agent.Namespace)
	img, err := client.ImageService().Get(ctx, images.Pause)
	if err != nil {
		t.Fatal(err)
	}
	if img.Labels[agent.LabelPinned] != "pinned" {
		t.Errorf("pause labels %v, want pinned", img.Labels)
	}
	if got := c.ArchivedImages(); len(got) != 1 || got[images.Pause] != img.Target.Digest {
		t.Errorf("archived images %v, want %s at %s", got, images.Pause, img.Target.Digest)
	}
	settings := c.Settings()
	if ok, err := containerd.NewImage(client, img).IsUnpacked(ctx, settings.Snapshotter); err != nil || !ok {
		t.Errorf("pause unpacked for %s: %v, %v", settings.Snapshotter, ok, err)
	}

	// The kubelet's view: CRI reports the image pinned, and runs with the config distro chose.
	conn := client.Conn().(*grpc.ClientConn)
	imgs, err := runtimeapi.NewImageServiceClient(conn).ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, i := range imgs.Images {
		for _, tag := range i.RepoTags {
			if tag == images.Pause {
				found = true
				if !i.Pinned {
					t.Errorf("CRI lists %s unpinned", tag)
				}
			}
		}
	}
	if !found {
		t.Errorf("CRI does not list %s: %v", images.Pause, imgs.Images)
	}
	st, err := runtimeapi.NewRuntimeServiceClient(conn).Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var criConfig struct {
		RestrictOOMScoreAdj bool   `json:"restrictOOMScoreAdj"`
		Snapshotter         string `json:"snapshotter"`
		SandboxImage        string `json:"sandboxImage"`
	}
	if err := json.Unmarshal([]byte(st.Info["config"]), &criConfig); err != nil {
		t.Fatalf("CRI status config: %v: %s", err, st.Info["config"])
	}
	if criConfig.RestrictOOMScoreAdj != settings.RestrictOOMScoreAdj {
		t.Errorf("containerd runs with restrictOOMScoreAdj %v, distro decided %v", criConfig.RestrictOOMScoreAdj, settings.RestrictOOMScoreAdj)
	}
	if settings.Snapshotter != agent.SnapshotterOverlayfs {
		t.Errorf("snapshotter %s on %s, want overlayfs", settings.Snapshotter, dataDir)
	}

	runSandbox(t, conn, c.Pid(), settings)

	// A restart: the old containerd is detached and left running, as on a distro restart; the
	// next component writes the same config, replaces it, and skips the unchanged archive.
	cfg, _ := opts.Complete()
	before, err := os.ReadFile(cfg.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	oldPid := c.Pid()
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(oldPid, 0) != nil {
		t.Fatal("Stop did not leave containerd running")
	}
	c2, took := start(t, opts)
	t.Logf("restart to ready: %s", took)
	after, err := os.ReadFile(cfg.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Errorf("config changed on restart:\n%s\n---\n%s", before, after)
	}
	if c2.Pid() == oldPid || syscall.Kill(oldPid, 0) == nil {
		t.Errorf("the containerd left running (pid %d) was not replaced (now %d)", oldPid, c2.Pid())
	}
	if got := c2.Imports(); len(got.Skipped) != 1 || len(got.Imported) != 0 {
		t.Errorf("restart imported %+v, want the unchanged archive skipped", got)
	}
	if got := c2.ArchivedImages(); len(got) != 1 || got[images.Pause] != img.Target.Digest {
		t.Errorf("after a restart, archived images %v, want %s at %s", got, images.Pause, img.Target.Digest)
	}

	// containerd that dies is restarted by the supervisor and becomes ready again.
	pid := c2.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c2.Pid() == 0 || c2.Pid() == pid {
		if time.Now().After(deadline) {
			t.Fatal("containerd was not restarted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if err := c2.Ready(rctx); err == nil {
			break
		} else if rctx.Err() != nil {
			t.Fatalf("not ready after a restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runSandbox runs a host-network pod sandbox from the imported pause image, as the kubelet's
// first call for a pod does, and removes it: the image, the shim and runc found on PATH, and
// the oom_score_adj decision all have to be right for it to start.
func runSandbox(t *testing.T, conn *grpc.ClientConn, containerdPid int, settings agent.Settings) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cleanUpHostDirs(t)
	cgroupParent := "/distro-containerd-test-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() {
		// Every hierarchy got the parent cgroup; each is empty once the sandbox is removed.
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupParent))
		for _, d := range dirs {
			if err := os.Remove(d); err != nil {
				t.Errorf("removing cgroup %s: %v", d, err)
			}
		}
	})
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	resp, err := rs.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "probe", Namespace: "default", Uid: "containerd-test-probe"},
		LogDirectory: t.TempDir(),
		Linux: &runtimeapi.LinuxPodSandboxConfig{CgroupParent: cgroupParent, SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
		}},
	}})
	if err != nil {
		t.Fatalf("run pod sandbox: %v", err)
	}
	id := resp.PodSandboxId
	defer func() {
		if _, err := rs.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("stop pod sandbox: %v", err)
		}
		if _, err := rs.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("remove pod sandbox: %v", err)
		}
	}()
	st, err := rs.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Errorf("sandbox state %s", st.Status.State)
	}
	var info struct {
		Pid   int
		Image string
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil || info.Pid == 0 {
		t.Fatalf("sandbox info %s: %v", st.Info["info"], err)
	}
	if info.Image != images.Pause {
		t.Errorf("sandbox image %s, want %s", info.Image, images.Pause)
	}
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(info.Pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nUid:\t65535\t") {
		t.Errorf("pause does not run as the image's user 65535:\n%s", status)
	}
	pauseAdj, containerdAdj := oomScoreAdj(t, info.Pid), oomScoreAdj(t, containerdPid)
	t.Logf("oom_score_adj: pause %d, containerd %d", pauseAdj, containerdAdj)
	if settings.RestrictOOMScoreAdj && pauseAdj < containerdAdj {
		t.Errorf("restricted, yet pause's oom_score_adj %d is below containerd's %d", pauseAdj, containerdAdj)
	}
}

// cleanUpHostDirs removes, after the test, the dirs containerd and runc create under /run
// whatever their config says (shim sockets, runc state), unless they were there before.
func cleanUpHostDirs(t *testing.T) {
	const run = "/run/containerd"
	if _, err := os.Stat(run); err == nil {
		return
	}
	t.Cleanup(func() {
		for _, d := range []string{"s", "runc/" + agent.Namespace, "runc", ""} {
			if err := os.Remove(filepath.Join(run, d)); err != nil && !os.IsNotExist(err) {
				t.Errorf("containerd left %v", err)
			}
		}
	})
}

func oomScoreAdj(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "oom_score_adj"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// memory is the resident, proportional and anonymous memory of pid, from /proc.
func memory(pid int) string {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, line := range strings.Split(string(data), "\n") {
		for _, key := range []string{"Rss:", "Pss:", "Anonymous:"} {
			if v, ok := strings.CutPrefix(line, key); ok {
				parts = append(parts, key+" "+strings.TrimSpace(v))
			}
		}
	}
	return strings.Join(parts, ", ")
}
