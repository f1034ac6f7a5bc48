package containerd

import (
	"github.com/distro-io/distro/distro/payload"

	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/opencontainers/go-digest"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/pki/atomicfile"
	"github.com/distro-io/distro/distro/supervisor"
)

// Name is the component's name in logs and errors.
const Name = "containerd"

// Component runs containerd as a supervised child that outlives distro, so pods keep running
// while distro restarts; the next distro replaces it (see supervisor.Config.PidFile).
type Component struct {
	cfg Config
	sup *supervisor.Supervisor

	mu       sync.Mutex
	settings Settings
	client   *containerd.Client
	imported bool
	imports  ImportResult
	// life outlasts Start's context and ends with Stop; the pin keeper runs under it.
	life       context.Context
	endLife    context.CancelFunc
	pinsKeeper chan struct{} // closed when keepPinned returns
}

var (
	_ component.Component       = (*Component)(nil)
	_ component.Readier         = (*Component)(nil)
	_ component.FailureReporter = (*Component)(nil)
)

// New returns the component; nothing touches the host before Init.
func New(cfg Config) *Component {
	env := cfg.Env
	if env == nil {
		env = os.Environ()
	}
	return &Component{
		cfg: cfg,
		sup: supervisor.New(supervisor.Config{
			Name:        Name,
			Path:        cfg.Executable,
			Arg0:        "containerd",
			Args:        []string{"--config", cfg.ConfigFile},
			Env:         payload.WithPath(env, cfg.BinDir),
			LogFile:     cfg.LogFile,
			PidFile:     cfg.PidFile,
			KeepRunning: true,
		}),
	}
}

// Name implements component.Component.
func (c *Component) Name() string { return Name }

// ReportFailuresTo implements component.FailureReporter: containerd that keeps exiting.
func (c *Component) ReportFailuresTo(report func(error)) { c.sup.ReportFailuresTo(report) }

// Socket is containerd's gRPC socket, for the kubelet and ctr.
func (c *Component) Socket() string { return c.cfg.Socket }

// Settings returns what Init decided about the host.
func (c *Component) Settings() Settings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.settings
}

// Init creates containerd's directories, makes sure lo is up, decides the snapshotter and the
// oom_score_adj restriction, and writes the config.
func (c *Component) Init(ctx context.Context) error {
	for _, d := range []string{c.cfg.Dir, c.cfg.Root, c.cfg.State, c.cfg.CNIConfDir, c.cfg.ImagesDir, filepath.Dir(c.cfg.ConfigFile), filepath.Dir(c.cfg.Socket)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if up, err := ensureLoopbackUp(); err != nil {
		return fmt.Errorf("containerd needs lo up for its stream server: %w", err)
	} else if up {
		klog.InfoS("Brought lo up: containerd's stream server listens on 127.0.0.1")
	}
	s := Settings{Snapshotter: c.cfg.Snapshotter}
	if s.Snapshotter == SnapshotterAuto {
		var why string
		if s.Snapshotter, why = chooseSnapshotter(c.cfg.Root); why != "" {
			klog.InfoS("Using the native snapshotter", "reason", why)
		}
	}
	var why string
	if s.RestrictOOMScoreAdj, why = DetectOOMScoreAdj(); s.RestrictOOMScoreAdj {
		klog.InfoS("Restricting containers' oom_score_adj to containerd's own", "reason", why)
	}
	data, err := Render(c.cfg, s)
	if err != nil {
		return err
	}
	if err := writeGenerated(c.cfg.ConfigFile, data); err != nil {
		return err
	}
	if err := c.writeHosts(); err != nil {
		return err
	}
	c.mu.Lock()
	c.settings = s
	c.mu.Unlock()
	return c.sup.Init(ctx)
}

// writeHosts writes the registry hosts file that sends pulls through the mirror, or removes
// the one an earlier start wrote when there is no mirror now.
func (c *Component) writeHosts() error {
	path := filepath.Join(c.cfg.HostsDir, DefaultHostsFile)
	if c.cfg.RegistryMirror == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	data, err := RenderHosts(c.cfg.RegistryMirror)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeGenerated(path, data)
}

// writeGenerated writes data to path unless the file holds it already.
func writeGenerated(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return atomicfile.Write(path, data, 0o644)
}

// Start starts containerd, replacing one an earlier distro left running.
func (c *Component) Start(ctx context.Context) error {
	c.mu.Lock()
	c.life, c.endLife = context.WithCancel(context.WithoutCancel(ctx))
	c.mu.Unlock()
	return c.sup.Start(ctx)
}

// Ready returns nil once containerd answers on its socket, its CRI runtime service reports the
// runtime ready, and the airgap archives are imported: the kubelet, next, needs all three.
func (c *Component) Ready(ctx context.Context) error {
	client, err := c.connect(ctx)
	if err != nil {
		return err
	}
	if _, err := client.Version(ctx); err != nil {
		return fmt.Errorf("containerd version: %w", err)
	}
	if err := criReady(ctx, client); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.imported {
		return nil
	}
	start := time.Now()
	paths, err := ArchivesIn(c.cfg.ImagesDir)
	if err != nil {
		return err
	}
	paths = append(slices.Clone(c.cfg.BuiltinArchives), paths...)
	res, err := ImportArchives(ctx, client, paths, c.cfg.ImportRecord, c.settings.Snapshotter)
	if err != nil {
		return err
	}
	if len(res.Imported)+len(res.Skipped) > 0 {
		klog.InfoS("Airgap image archives", "dir", c.cfg.ImagesDir, "imported", res.Imported, "unchanged", res.Skipped, "took", time.Since(start).Round(time.Millisecond))
	}
	c.imported, c.imports = true, res
	if c.life != nil {
		done := make(chan struct{})
		c.pinsKeeper = done
		go func() {
			defer close(done)
			keepPinned(c.life, client, res.Archived)
		}()
	}
	return nil
}

// Imports says what the image import of this start did; empty before Ready succeeded.
func (c *Component) Imports() ImportResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.imports
}

// ArchivedImages returns what the airgap archives put in containerd, at this start or an
// earlier one: image name to target digest. Empty before Ready succeeded.
func (c *Component) ArchivedImages() map[string]digest.Digest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.imports.Archived)
}

// connect returns the client, made once the socket accepts connections: a client made earlier
// would wait out gRPC's reconnect backoff instead.
func (c *Component) connect(ctx context.Context) (*containerd.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.cfg.Socket)
	if err != nil {
		return nil, fmt.Errorf("containerd socket: %w", err)
	}
	conn.Close()
	client, err := containerd.New(c.cfg.Socket, containerd.WithDefaultNamespace(Namespace))
	if err != nil {
		return nil, err
	}
	c.client = client
	return client, nil
}

// criReady asks the CRI runtime service what the kubelet will ask first.
func criReady(ctx context.Context, client *containerd.Client) error {
	conn, ok := client.Conn().(*grpc.ClientConn)
	if !ok {
		return errors.New("containerd client has no gRPC connection")
	}
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	if _, err := rs.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
		return fmt.Errorf("CRI version: %w", err)
	}
	st, err := rs.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return fmt.Errorf("CRI status: %w", err)
	}
	// NetworkReady waits for a CNI config, which comes later; the runtime must be ready now.
	for _, cond := range st.GetStatus().GetConditions() {
		if cond.Type == runtimeapi.RuntimeReady && !cond.Status {
			return fmt.Errorf("CRI runtime not ready: %s: %s", cond.Reason, cond.Message)
		}
	}
	return nil
}

// Stop closes the client and leaves containerd running for the next distro.
func (c *Component) Stop(ctx context.Context) error {
	c.closeClient()
	return c.sup.Stop(ctx)
}

// Terminate closes the client and stops containerd (pods keep running in their shims), for an
// uninstall or a test that must leave nothing behind.
func (c *Component) Terminate(ctx context.Context) error {
	c.closeClient()
	return c.sup.Terminate(ctx)
}

// Pid is containerd's pid, or 0 when it does not run.
func (c *Component) Pid() int { return c.sup.Pid() }

// closeClient stops the pin keeper, which uses the client, then closes the client.
func (c *Component) closeClient() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.endLife != nil {
		c.endLife()
	}
	if c.pinsKeeper != nil {
		<-c.pinsKeeper
		c.pinsKeeper = nil
	}
	if c.client != nil {
		c.client.Close()
		c.client = nil
	}
}
