package bootstrap

import (
	"context"
	"testing"
	"time"

	"github.com/distro-io/distro/distro/server/datastore"
)

// TestEtcdStoreOnKine runs the store against kine on SQLite, in-process as the server runs it:
// kine implements only the transactions the apiserver uses, and Create must be one of them.
func TestEtcdStoreOnKine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := datastore.Options{DataDir: t.TempDir()}.Complete()
	if err != nil {
		t.Fatal(err)
	}
	kine := datastore.New(cfg)
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

	s, err := DialEtcd(EtcdConfig{Endpoints: []string{"unix://" + cfg.Socket}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, found, err := s.Get(ctx); err != nil || found {
		t.Fatalf("Get before anything was stored: found %v, %v", found, err)
	}
	if created, err := s.Create(ctx, []byte("first")); err != nil || !created {
		t.Fatalf("Create: %v, %v", created, err)
	}
	if created, err := s.Create(ctx, []byte("second")); err != nil || created {
		t.Fatalf("a second Create: %v, %v; want refused", created, err)
	}
	got, found, err := s.Get(ctx)
	if err != nil || !found || string(got.Value) != "first" {
		t.Fatalf("Get: %q, %v, %v", got.Value, found, err)
	}
	// Update is a compare-and-swap on the revision: kine implements only that shape.
	rev, updated, err := s.Update(ctx, got.Revision, []byte("rotated"))
	if err != nil || !updated || rev <= got.Revision {
		t.Fatalf("Update at the current revision %d: %d, %v, %v", got.Revision, rev, updated, err)
	}
	if _, updated, err := s.Update(ctx, got.Revision, []byte("stale")); err != nil || updated {
		t.Fatalf("Update at a stale revision: %v, %v; want refused", updated, err)
	}
	if got, _, err := s.Get(ctx); err != nil || string(got.Value) != "rotated" || got.Revision != rev {
		t.Fatalf("Get after the update: %q at %d, %v; want rotated at %d", got.Value, got.Revision, err, rev)
	}
}
