// Package datastore runs the cluster's storage: kine in-process in front of SQLite,
// PostgreSQL or MySQL, or nothing at all when the apiserver talks to etcd directly.
package datastore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/endpoint"
	kinetls "github.com/k3s-io/kine/pkg/tls"

	"github.com/distro-io/distro/distro/component"
)

// Kind is the storage engine an endpoint names.
type Kind string

const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
	MySQL    Kind = "mysql"
	Etcd     Kind = "etcd"
)

// sqliteParams are the connection settings for the embedded database: WAL for concurrent
// readers, a long busy timeout instead of SQLITE_BUSY errors, and immediate write locks.
const sqliteParams = "_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate&_stmt_cache_size=20&cache=shared"

// Options describe the datastore; every field can come from a flag.
type Options struct {
	// Endpoint is empty for SQLite in DataDir, or sqlite://, postgres://, mysql://,
	// http(s):// (etcd, comma separated for several members).
	Endpoint string
	CAFile   string
	CertFile string
	KeyFile  string
	// DataDir is the server's data directory (<data-dir>/server).
	DataDir string
}

// Config is the validated, complete datastore configuration.
type Config struct {
	Kind     Kind
	Endpoint string // what kine or the apiserver connects to
	CAFile   string
	CertFile string
	KeyFile  string
	// Socket is kine's unix socket the apiserver connects to; empty for etcd.
	Socket string
}

// Complete checks opts and derives the configuration.
func (o Options) Complete() (*Config, error) {
	c := &Config{CAFile: o.CAFile, CertFile: o.CertFile, KeyFile: o.KeyFile}
	ep := strings.TrimSpace(o.Endpoint)
	switch {
	case ep == "" || ep == "sqlite://":
		c.Kind = SQLite
		c.Endpoint = "sqlite://" + filepath.Join(o.DataDir, "db", "state.db") + "?" + sqliteParams
	case strings.HasPrefix(ep, "sqlite://"):
		c.Kind = SQLite
		c.Endpoint = ep
		if !strings.Contains(ep, "?") {
			c.Endpoint += "?" + sqliteParams
		}
	case strings.HasPrefix(ep, "postgres://"), strings.HasPrefix(ep, "postgresql://"):
		c.Kind, c.Endpoint = Postgres, ep
	case strings.HasPrefix(ep, "mysql://"):
		c.Kind, c.Endpoint = MySQL, ep
	case strings.HasPrefix(ep, "https://"), strings.HasPrefix(ep, "http://"):
		c.Kind, c.Endpoint = Etcd, ep
		for _, member := range strings.Split(ep, ",") {
			if u, err := url.Parse(member); err != nil || u.Host == "" {
				return nil, fmt.Errorf("datastore-endpoint: etcd member %q is not a URL like https://host:2379", redact(member))
			}
		}
	default:
		return nil, fmt.Errorf("datastore-endpoint %q: expected sqlite://PATH, postgres://…, mysql://… or http(s):// etcd endpoints", redact(ep))
	}
	if c.Kind != Etcd {
		c.Socket = filepath.Join(o.DataDir, "kine.sock")
	}
	for flag, f := range map[string]string{"datastore-cafile": c.CAFile, "datastore-certfile": c.CertFile, "datastore-keyfile": c.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
	}
	return c, nil
}

// redact hides a password in a datastore URL, so errors and logs never show it.
func redact(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.User == nil {
		return endpoint
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// EtcdServers is the --etcd-servers value for the apiserver.
func (c *Config) EtcdServers() string {
	if c.Kind == Etcd {
		return c.Endpoint
	}
	return "unix://" + c.Socket
}

// Kine is the in-process kine component; it does nothing for etcd.
type Kine struct {
	cfg    *Config
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ component.Component = (*Kine)(nil)
	_ component.Readier   = (*Kine)(nil)
)

// New returns the datastore component for cfg.
func New(cfg *Config) *Kine { return &Kine{cfg: cfg} }

func (k *Kine) Name() string { return "datastore" }

func (k *Kine) Init(context.Context) error {
	if k.cfg.Kind == SQLite {
		path := strings.TrimPrefix(k.cfg.Endpoint, "sqlite://")
		path, _, _ = strings.Cut(path, "?")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
	}
	if k.cfg.Socket != "" {
		return os.MkdirAll(filepath.Dir(k.cfg.Socket), 0o700)
	}
	return nil
}

func (k *Kine) Start(ctx context.Context) error {
	if k.cfg.Kind == Etcd {
		return nil
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	k.cancel = cancel
	_, err := endpoint.Listen(runCtx, endpoint.Config{
		Listener:  "unix://" + k.cfg.Socket,
		Endpoint:  k.cfg.Endpoint,
		WaitGroup: &k.wg,
		BackendTLSConfig: kinetls.Config{
			CAFile: k.cfg.CAFile, CertFile: k.cfg.CertFile, KeyFile: k.cfg.KeyFile,
		},
		// The settings kine's own command line defaults to; Listen has no defaults of its own.
		NotifyInterval:      5 * time.Second,
		EmulatedETCDVersion: "3.6.11",
		CompactTimeout:      5 * time.Second,
		CompactBatchSize:    1000,
		PollBatchSize:       500,
		PollInterval:        time.Second,
		// Compaction is the apiserver's, as on etcd: every 5 minutes it compacts to the revision
		// it saw the time before (CompactInterval 0 leaves kine's own off). Unlike kine's command
		// line, no last 1000 revisions are kept on top: on a quiet cluster that floor keeps a
		// compacted list continuation valid for several intervals, where etcd expires it.
		CompactMinRetain: 0,
	})
	if err != nil {
		cancel()
		return fmt.Errorf("kine on %s: %w", k.cfg.Kind, err)
	}
	return nil
}

// Ready succeeds once kine's socket accepts connections.
func (k *Kine) Ready(ctx context.Context) error {
	if k.cfg.Kind == Etcd {
		return nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", k.cfg.Socket)
	if err != nil {
		return err
	}
	return conn.Close()
}

func (k *Kine) Stop(ctx context.Context) error {
	if k.cancel == nil {
		return nil
	}
	k.cancel()
	done := make(chan struct{})
	go func() { k.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("kine did not stop in time")
	}
}
