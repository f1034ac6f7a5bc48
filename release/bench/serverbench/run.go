package serverbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/distro-io/distro/release/bench"
)

// Options say how bench:server runs.
type Options struct {
	Binary     string   // dist/distro
	Env        []string // added to the server's environment
	Runs       int
	Idle       time.Duration // after /readyz, before memory is sampled
	Objects    int
	Clients    int
	EtcdBinary string // empty skips the etcd comparison
	Scratch    string // data dirs, kubeconfigs and logs
	Log        io.Writer
	// PollInterval is the /readyz poll period (default 100ms); ReadyTimeout bounds one wait
	// for /readyz (default 3m), StopTimeout the wait after SIGTERM (default 30s).
	PollInterval, ReadyTimeout, StopTimeout time.Duration
}

func (o *Options) defaults() {
	if o.PollInterval == 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 3 * time.Minute
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Lifecycle is one run of the start/idle/stop/restart series.
type Lifecycle struct {
	FirstReady   time.Duration // fresh data dir → /readyz ok
	Memory       bench.TreeMem // after the idle time
	StopFirst    time.Duration // SIGTERM → exit
	RestartReady time.Duration // same data dir → /readyz ok
	StopRestart  time.Duration
	StopErrors   []error // unclean exits, reported but not fatal
}

// Run measures the lifecycle series, then the create load, and prints one report (also
// when a run fails, with what was measured until then).
func Run(ctx context.Context, o Options, w io.Writer) error {
	o.defaults()
	r, err := bench.NewReport("bench:server", o.Runs)
	if err != nil {
		return err
	}
	defer r.WriteTo(w)
	r.Note("%s", bench.GOGCNote())
	r.Note("%s", bench.StartupPagesNote())
	r.Note("/readyz polled every %s over HTTPS with the admin kubeconfig's client certificate; times count from the server's exec", o.PollInterval)

	var lcs []Lifecycle
	for i := range o.Runs {
		fmt.Fprintf(o.Log, "bench:server: lifecycle run %d/%d\n", i+1, o.Runs)
		lc, err := RunLifecycle(ctx, o, filepath.Join(o.Scratch, fmt.Sprintf("run-%d", i)))
		if err != nil {
			return fmt.Errorf("lifecycle run %d: %w", i+1, err)
		}
		lcs = append(lcs, lc)
	}
	addLifecycle(r, o, lcs)

	sqlite, etcd, err := RunLoads(ctx, o)
	if len(sqlite) > 0 {
		r.Add(fmt.Sprintf("create %d ConfigMaps, %d clients: kine/sqlite", o.Objects, o.Clients), rates(sqlite))
	}
	if len(etcd) > 0 {
		r.Add(fmt.Sprintf("create %d ConfigMaps, %d clients: etcd", o.Objects, o.Clients), rates(etcd))
		var ratios []float64
		for i := range min(len(sqlite), len(etcd)) {
			ratios = append(ratios, sqlite[i].PerSecond()/etcd[i].PerSecond())
		}
		r.Add("sqlite/etcd throughput, pair by pair", bench.Summarize(bench.Ratio, ratios...))
		r.Note("the loads ran alternating kine/sqlite and etcd (%s), each on a fresh data dir", o.EtcdBinary)
	} else if o.EtcdBinary == "" {
		r.Note("etcd comparison skipped: ETCD_BINARY is not set (point it at an etcd executable to run the same load against etcd)")
	}
	return err
}

func addLifecycle(r *bench.Report, o Options, lcs []Lifecycle) {
	var first, restart, stop1, stop2 []time.Duration
	var pss, rss, anon []uint64
	for _, lc := range lcs {
		first, restart = append(first, lc.FirstReady), append(restart, lc.RestartReady)
		stop1, stop2 = append(stop1, lc.StopFirst), append(stop2, lc.StopRestart)
		pss, rss, anon = append(pss, lc.Memory.Pss), append(rss, lc.Memory.Rss), append(anon, lc.Memory.Anon)
		for _, err := range lc.StopErrors {
			r.Note("%v", err)
		}
	}
	r.Add("start → /readyz, fresh data dir (incl. payload unpack)", bench.Durations(first...))
	r.Add("restart → /readyz, same data dir", bench.Durations(restart...))
	r.Add("SIGTERM → exit (after idle)", bench.Durations(stop1...))
	r.Add("SIGTERM → exit (after restart)", bench.Durations(stop2...))
	r.Add(fmt.Sprintf("PSS total after %s idle", o.Idle), bench.Sizes(pss...))
	r.Add("anonymous total", bench.Sizes(anon...))
	r.Add("RSS total", bench.Sizes(rss...))
	if len(lcs) > 0 {
		last := lcs[len(lcs)-1].Memory
		for _, p := range last.Procs {
			r.Value(fmt.Sprintf("  last run: pid %d %s", p.PID, p.Comm),
				fmt.Sprintf("PSS %s, anon %s, RSS %s", bench.FormatBytes(p.Pss), bench.FormatBytes(p.Anon), bench.FormatBytes(p.Rss)))
		}
	}
}

func rates(ts []Throughput) bench.Stats {
	v := make([]float64, len(ts))
	for i, t := range ts {
		v[i] = t.PerSecond()
	}
	return bench.Summarize(bench.PerSecond, v...)
}

// newServer prepares a server whose state lives in dir.
func newServer(o Options, dir, datastore string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return &Server{Binary: o.Binary, Env: o.Env, DataDir: filepath.Join(dir, "data"),
		Kubeconfig: filepath.Join(dir, "admin.yaml"), Port: port, Datastore: datastore,
		LogFile: filepath.Join(dir, "server.log")}, nil
}

// startReady starts s and waits for /readyz.
func startReady(ctx context.Context, o Options, s *Server) (time.Duration, error) {
	start, err := s.Start()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	d, err := s.Ready(ctx, start, o.PollInterval)
	if err != nil {
		s.Stop(o.StopTimeout)
		return 0, fmt.Errorf("%w\nlog: %s", err, s.LogFile)
	}
	return d, nil
}

// RunLifecycle is one run: fresh start, idle, memory, stop, restart, stop.
func RunLifecycle(ctx context.Context, o Options, dir string) (Lifecycle, error) {
	o.defaults()
	var lc Lifecycle
	s, err := newServer(o, dir, "")
	if err != nil {
		return lc, err
	}
	if lc.FirstReady, err = startReady(ctx, o, s); err != nil {
		return lc, err
	}
	select {
	case <-time.After(o.Idle):
	case <-ctx.Done():
		s.Stop(o.StopTimeout)
		return lc, ctx.Err()
	}
	if lc.Memory, err = bench.SampleTree(s.Pid()); err != nil {
		s.Stop(o.StopTimeout)
		return lc, err
	}
	if lc.StopFirst, err = s.Stop(o.StopTimeout); err != nil {
		lc.StopErrors = append(lc.StopErrors, err)
	}
	if lc.RestartReady, err = startReady(ctx, o, s); err != nil {
		return lc, fmt.Errorf("restart: %w", err)
	}
	if lc.StopRestart, err = s.Stop(o.StopTimeout); err != nil {
		lc.StopErrors = append(lc.StopErrors, fmt.Errorf("restart: %w", err))
	}
	return lc, nil
}

// RunLoads runs the create load Runs times on kine/sqlite and, when o.EtcdBinary is set,
// as often on etcd, alternating sqlite etcd sqlite etcd so drift hits both alike.
func RunLoads(ctx context.Context, o Options) (sqlite, etcd []Throughput, err error) {
	o.defaults()
	for i := range o.Runs {
		fmt.Fprintf(o.Log, "bench:server: load run %d/%d on kine/sqlite\n", i+1, o.Runs)
		t, err := RunLoad(ctx, o, filepath.Join(o.Scratch, fmt.Sprintf("load-sqlite-%d", i)), false)
		if err != nil {
			return sqlite, etcd, fmt.Errorf("load on kine/sqlite, run %d: %w", i+1, err)
		}
		sqlite = append(sqlite, t)
		if o.EtcdBinary == "" {
			continue
		}
		fmt.Fprintf(o.Log, "bench:server: load run %d/%d on etcd\n", i+1, o.Runs)
		if t, err = RunLoad(ctx, o, filepath.Join(o.Scratch, fmt.Sprintf("load-etcd-%d", i)), true); err != nil {
			return sqlite, etcd, fmt.Errorf("load on etcd, run %d: %w", i+1, err)
		}
		etcd = append(etcd, t)
	}
	return sqlite, etcd, nil
}

// RunLoad starts a server on a fresh data dir (backed by a fresh etcd when withEtcd),
// creates the ConfigMaps and stops everything.
func RunLoad(ctx context.Context, o Options, dir string, withEtcd bool) (Throughput, error) {
	o.defaults()
	datastore := ""
	if withEtcd {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Throughput{}, err
		}
		e, err := StartEtcd(ctx, o.EtcdBinary, filepath.Join(dir, "etcd"), filepath.Join(dir, "etcd.log"))
		if err != nil {
			return Throughput{}, err
		}
		defer e.Stop(o.StopTimeout)
		datastore = e.ClientURL
	}
	s, err := newServer(o, dir, datastore)
	if err != nil {
		return Throughput{}, err
	}
	if _, err := startReady(ctx, o, s); err != nil {
		return Throughput{}, err
	}
	cfg, err := s.RESTConfig()
	if err != nil {
		s.Stop(o.StopTimeout)
		return Throughput{}, err
	}
	t, err := CreateConfigMaps(ctx, cfg, "bench-load", o.Objects, o.Clients)
	if _, stopErr := s.Stop(o.StopTimeout); stopErr != nil {
		fmt.Fprintf(o.Log, "bench:server: after the load: %v\n", stopErr) // the load's number stands
	}
	return t, err
}
