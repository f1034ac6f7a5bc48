package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
)

// DefaultKeepInterval is how often a Keeper compares the shared files with what it stored.
const DefaultKeepInterval = 10 * time.Second

// Keeper keeps the cluster's bootstrap data in the datastore in step with this server's shared
// files while the server runs. Those change under a running server in one way: `distro
// secrets-encrypt rotate` rewrites the encryption configuration. Unless the datastore follows,
// the server would refuse to start again (its files would differ from the datastore's) and a
// server joining later would get a key that no longer decrypts the Secrets.
//
// A change is stored only over the record this server last saw (compare-and-swap on its
// revision). A record another server changed meanwhile is left alone and the disagreement is
// logged: which server's files are right is for a person to decide.
type Keeper struct {
	cfg      Config
	interval time.Duration

	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	secret   string
	revision int64
	stored   Data   // what the record holds, decrypted
	reported string // the last disagreement logged, so it is logged once
}

var _ component.Component = (*Keeper)(nil)

// NewKeeper returns the keeper of cfg.DataDir's shared files in cfg.Store; interval is
// DefaultKeepInterval when zero. Stop closes the store if it is an io.Closer.
func NewKeeper(cfg Config, interval time.Duration) *Keeper {
	if interval <= 0 {
		interval = DefaultKeepInterval
	}
	return &Keeper{cfg: cfg, interval: interval}
}

func (k *Keeper) Name() string               { return "bootstrap-keeper" }
func (k *Keeper) Init(context.Context) error { return nil }

// Start reads the record Prepare left in the datastore and follows the files in the background.
func (k *Keeper) Start(ctx context.Context) error {
	secret, _, err := k.cfg.secret()
	if err != nil {
		return err
	}
	rec, data, err := k.read(ctx, secret)
	if err != nil {
		return err
	}
	k.secret, k.revision, k.stored = secret, rec.Revision, data
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	k.cancel = cancel
	k.done = make(chan struct{})
	go func() {
		defer close(k.done)
		t := time.NewTicker(k.interval)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				k.Sync(runCtx)
			}
		}
	}()
	return nil
}

func (k *Keeper) read(ctx context.Context, secret string) (Record, Data, error) {
	rec, found, err := k.cfg.Store.Get(ctx)
	if err != nil {
		return Record{}, nil, err
	}
	if !found {
		return Record{}, nil, fmt.Errorf("the cluster's bootstrap data is gone from the datastore (%s)", Key)
	}
	plaintext, err := Open(secret, rec.Value)
	if err != nil {
		return Record{}, nil, err
	}
	data, err := decode(plaintext)
	return rec, data, err
}

// Sync stores the shared files if they changed since they were last stored. The keeper calls
// it every interval; it returns what it did, for tests.
func (k *Keeper) Sync(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	local, err := Collect(Files(k.cfg.DataDir))
	if err != nil {
		return k.report(err)
	}
	changed := differing(k.stored, local)
	if len(changed) == 0 {
		return nil
	}
	plaintext, err := local.encode()
	if err != nil {
		return k.report(err)
	}
	sealed, err := k.cfg.seal(k.secret, plaintext)
	if err != nil {
		return k.report(err)
	}
	revision, updated, err := k.cfg.Store.Update(ctx, k.revision, sealed)
	if err != nil {
		return k.report(err)
	}
	if updated {
		k.revision, k.stored, k.reported = revision, local, ""
		klog.InfoS("Stored this server's changed files in the cluster's bootstrap data", "files", changed)
		return nil
	}
	// Changed by another server meanwhile: fine if it now holds what this server holds.
	rec, remote, err := k.read(ctx, k.secret)
	if err != nil {
		return k.report(err)
	}
	if theirs := differing(remote, local); len(theirs) > 0 {
		return k.report(fmt.Errorf("another server changed the cluster's bootstrap data in the datastore, and %s differ from this server's: "+
			"this server keeps its files and stores nothing, and will refuse to start until they agree", strings.Join(theirs, ", ")))
	}
	k.revision, k.stored, k.reported = rec.Revision, remote, ""
	return nil
}

// report logs err unless it was the last one logged, and returns it.
func (k *Keeper) report(err error) error {
	if msg := err.Error(); msg != k.reported {
		k.reported = msg
		klog.ErrorS(err, "Keeping the cluster's bootstrap data in step")
	}
	return err
}

// differing names the files whose content differs between a and b.
func differing(a, b Data) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(b)) {
		if !bytes.Equal(a[name], b[name]) {
			out = append(out, name)
		}
	}
	return out
}

// Stop ends the loop and closes the store.
func (k *Keeper) Stop(ctx context.Context) error {
	var errs []error
	if k.cancel != nil {
		k.cancel()
		select {
		case <-k.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("bootstrap keeper: still syncing: %w", context.Cause(ctx)))
		}
	}
	if c, ok := k.cfg.Store.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
