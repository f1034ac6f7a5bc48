package bootstrap

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestKeeperStoresARotatedEncryptionConfig(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	first, tok := firstServer(t, "cluster")
	c := Config{DataDir: first, Store: store, KDF: &cheap}
	if err := c.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	k := NewKeeper(c, 0)
	if err := k.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Stop(ctx) })
	if err := k.Sync(ctx); err != nil || store.revision != 1 {
		t.Fatalf("Sync with nothing changed: %v, revision %d", err, store.revision)
	}

	// secrets-encrypt rotate rewrites the encryption configuration.
	encryption := Files(first)[8]
	if err := os.WriteFile(encryption.Path, []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := k.Sync(ctx); err != nil || store.revision != 2 {
		t.Fatalf("Sync after the rotation: %v, revision %d", err, store.revision)
	}
	// The first server starts again: its files are the datastore's.
	if _, err := c.Fetch(ctx); err != nil {
		t.Errorf("restart after the rotation: %v", err)
	}
	// A server joining now gets the rotated file.
	joining := t.TempDir()
	if _, err := (Config{DataDir: joining, Store: store, Token: tok, JoinURL: "https://first:9345", FetchCA: served(t, first)}).Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(Files(joining)[8].Path); string(got) != "rotated" {
		t.Errorf("the joining server's encryption config: %q", got)
	}

	// Another server stores other files meanwhile: this one leaves the record alone.
	other := Config{DataDir: joining, Store: store, KDF: &cheap}
	theirs := NewKeeper(other, 0)
	if err := theirs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { theirs.Stop(ctx) })
	os.WriteFile(Files(joining)[8].Path, []byte("rotated by the other server"), 0o600)
	if err := theirs.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(encryption.Path, []byte("rotated again here"), 0o600)
	err := k.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "cred/encryption-config.json differ") {
		t.Fatalf("Sync over another server's change: %v", err)
	}
	if _, err := (Config{DataDir: joining, Store: store}).Fetch(ctx); err != nil {
		t.Errorf("the other server's record was overwritten: %v", err)
	}
	// Once both hold the same files, the keeper follows the record again.
	os.WriteFile(encryption.Path, []byte("rotated by the other server"), 0o600)
	if err := k.Sync(ctx); err != nil {
		t.Errorf("Sync once the files agree: %v", err)
	}
}
