package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/version"
)

// Key is where the sealed bootstrap data lives in the datastore, outside the apiserver's
// /registry prefix.
const Key = "/" + version.Program + "/bootstrap"

// Record is the stored, sealed bootstrap data and the datastore revision that last changed it.
type Record struct {
	Value    []byte
	Revision int64
}

// Store keeps the one sealed bootstrap record.
type Store interface {
	// Get returns the record, or found false when there is none.
	Get(ctx context.Context) (rec Record, found bool, err error)
	// Create stores the record unless one exists; created is false when one did.
	Create(ctx context.Context, value []byte) (created bool, err error)
	// Update replaces the record if it was last changed at revision; updated is false when it
	// was changed since. It returns the new revision.
	Update(ctx context.Context, revision int64, value []byte) (newRevision int64, updated bool, err error)
}

// EtcdStore is a Store in the datastore, through the etcd v3 API: etcd itself, or kine in
// front of SQL, which serves the same API on its socket.
type EtcdStore struct {
	client *clientv3.Client
	key    string
}

var _ Store = (*EtcdStore)(nil)

// EtcdConfig says how to reach the datastore.
type EtcdConfig struct {
	// Endpoints are etcd's client URLs, or kine's socket as unix:///path.
	Endpoints []string
	// CAFile, CertFile and KeyFile secure the connection to etcd; empty for kine's socket.
	CAFile, CertFile, KeyFile string
	// Key is where the record goes; Key when empty (tests use others).
	Key string
}

// DialEtcd returns a store in the datastore. It does not wait for a connection: the first
// request does.
func DialEtcd(cfg EtcdConfig) (*EtcdStore, error) {
	var tlsCfg *tls.Config
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		info := transport.TLSInfo{TrustedCAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile}
		var err error
		if tlsCfg, err = info.ClientConfig(); err != nil {
			return nil, fmt.Errorf("datastore TLS: %w", err)
		}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		TLS:         tlsCfg,
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("datastore client: %w", err)
	}
	key := cfg.Key
	if key == "" {
		key = Key
	}
	return &EtcdStore{client: client, key: key}, nil
}

// Close releases the connection.
func (s *EtcdStore) Close() error { return s.client.Close() }

// Get reads the record, retrying while the datastore cannot be reached.
func (s *EtcdStore) Get(ctx context.Context) (Record, bool, error) {
	var resp *clientv3.GetResponse
	err := retry(ctx, "reading", func(ctx context.Context) (err error) {
		resp, err = s.client.Get(ctx, s.key)
		return err
	})
	if err != nil {
		return Record{}, false, err
	}
	if len(resp.Kvs) == 0 {
		return Record{}, false, nil
	}
	return Record{Value: resp.Kvs[0].Value, Revision: resp.Kvs[0].ModRevision}, true, nil
}

// Create writes the record in a transaction that succeeds only while the key does not exist
// (the create kine implements: a mod revision of 0, one put).
func (s *EtcdStore) Create(ctx context.Context, record []byte) (bool, error) {
	var resp *clientv3.TxnResponse
	err := retry(ctx, "writing", func(ctx context.Context) (err error) {
		resp, err = s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(s.key), "=", 0)).
			Then(clientv3.OpPut(s.key, string(record))).
			Commit()
		return err
	})
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

// Update replaces the record in a transaction that succeeds only while its mod revision is
// still revision (the update kine implements: that comparison, one put, else a get).
func (s *EtcdStore) Update(ctx context.Context, revision int64, value []byte) (int64, bool, error) {
	var resp *clientv3.TxnResponse
	err := retry(ctx, "updating", func(ctx context.Context) (err error) {
		resp, err = s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(s.key), "=", revision)).
			Then(clientv3.OpPut(s.key, string(value))).
			Else(clientv3.OpGet(s.key)).
			Commit()
		return err
	})
	if err != nil {
		return 0, false, err
	}
	if !resp.Succeeded {
		return 0, false, nil
	}
	return resp.Header.Revision, true, nil
}

// retryFor bounds the wait for a datastore that does not answer yet.
const retryFor = 2 * time.Minute

func retry(ctx context.Context, what string, op func(context.Context) error) error {
	deadline := time.Now().Add(retryFor)
	delay := 500 * time.Millisecond
	for {
		opCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := op(opCtx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("%s the bootstrap data in the datastore: %w", what, errors.Join(err, context.Cause(ctx)))
		}
		klog.InfoS("Waiting for the datastore", "op", what+" the bootstrap data", "err", err, "retry", delay)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
