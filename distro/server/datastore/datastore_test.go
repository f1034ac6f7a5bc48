package datastore

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apiserver/pkg/storage/etcd3"
)

// The apiserver's compactor, run against kine as the server runs it, compacts to the revision
// it recorded the time before, as on etcd: a read at an older revision (a list continuation)
// then fails as compacted, however few revisions were written since.
func TestApiserverCompactionOnKine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := Options{DataDir: t.TempDir()}.Complete()
	if err != nil {
		t.Fatal(err)
	}
	kine := New(cfg)
	if err := kine.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := kine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kine.Stop(context.Background()) })
	for kine.Ready(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatal("kine's socket does not accept connections")
		}
		time.Sleep(50 * time.Millisecond)
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{cfg.EtcdServers()}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	put := func(v string) int64 {
		t.Helper()
		resp, err := client.Put(ctx, "/registry/configmaps/default/x", v)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	old := put("1")
	put("2")
	// The first run records the current revision and compacts nothing.
	version, recorded, compacted, err := etcd3.Compact(ctx, client, 0, 0)
	if err != nil || compacted != 0 {
		t.Fatalf("first compaction: compacted %d, %v", compacted, err)
	}
	put("3")
	// The next run compacts to what the first one recorded.
	if _, _, compacted, err = etcd3.Compact(ctx, client, version, recorded); err != nil || compacted != recorded {
		t.Fatalf("second compaction: compacted %d, %v; want %d", compacted, err, recorded)
	}
	if _, err := client.Get(ctx, "/registry/configmaps/default/x", clientv3.WithRev(old)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("a read at revision %d, before the compacted %d: %v; want compacted", old, recorded, err)
	}
	resp, err := client.Get(ctx, "/registry/configmaps/default/x")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "3" {
		t.Errorf("the current value after compaction: %v, %v", resp, err)
	}
}
