package bootstrap

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distro-io/distro/distro/token"
)

// memStore is a Store in memory.
type memStore struct {
	mu       sync.Mutex
	record   []byte
	revision int64
}

func (s *memStore) Get(context.Context) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Record{Value: s.record, Revision: s.revision}, s.record != nil, nil
}

func (s *memStore) Create(_ context.Context, record []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.record != nil {
		return false, nil
	}
	s.record = record
	s.revision++
	return true, nil
}

func (s *memStore) Update(_ context.Context, revision int64, record []byte) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revision != revision {
		return 0, false, nil
	}
	s.record = record
	s.revision++
	return s.revision, true, nil
}

// firstServer makes a data dir with every shared file, the tokens as a server writes them,
// and returns its server token.
func firstServer(t *testing.T, tag string) (string, token.Token) {
	t.Helper()
	dir := t.TempDir()
	d := testData(tag)
	writeAll(t, dir, d)
	hash := token.HashCA(d["tls/server-ca.crt"])
	for _, f := range []string{token.ServerTokenFile(dir), token.NodeTokenFile(dir)} {
		os.Remove(f)
	}
	tok, err := token.Ensure(token.ServerTokenFile(dir), token.ServerUser, hash, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token.Ensure(token.NodeTokenFile(dir), token.NodeUser, hash, ""); err != nil {
		t.Fatal(err)
	}
	return dir, tok
}

// served is a FetchCA that answers with the CA of dir, checked against the token.
func served(t *testing.T, dir string) func(context.Context, string, token.Token) ([]byte, error) {
	return func(_ context.Context, _ string, tok token.Token) ([]byte, error) {
		ca, err := os.ReadFile(Files(dir)[0].Path)
		if err != nil {
			return nil, err
		}
		return ca, tok.VerifyCA(ca)
	}
}

func TestFirstServerPublishesAndAJoiningServerGetsTheSameFiles(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	first, tok := firstServer(t, "cluster")
	c := Config{DataDir: first, Store: store, KDF: &cheap}
	if found, err := c.Fetch(ctx); err != nil || found {
		t.Fatalf("Fetch on an empty datastore: found %v, %v", found, err)
	}
	if err := c.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(store.record), "cluster tls/") || strings.Contains(string(store.record), tok.Secret) {
		t.Fatal("the datastore holds the files or the token secret in plaintext")
	}
	// The first server's restart: the secret comes from its token file, the files match.
	if found, err := c.Fetch(ctx); err != nil || !found {
		t.Fatalf("restart of the first server: found %v, %v", found, err)
	}

	joining := t.TempDir()
	j := Config{DataDir: joining, Store: store, Token: tok, JoinURL: "https://first:9345", FetchCA: served(t, first)}
	if found, err := j.Fetch(ctx); err != nil || !found {
		t.Fatalf("join: found %v, %v", found, err)
	}
	for _, f := range Files(first) {
		want, _ := os.ReadFile(f.Path)
		got, err := os.ReadFile(strings.Replace(f.Path, first, joining, 1))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s on the joining server: %q, %v", f.Name, got, err)
		}
	}
	// The joining server restarts with the first server down: no CA fetch, files match.
	j.FetchCA = func(context.Context, string, token.Token) ([]byte, error) {
		return nil, errors.New("connection refused")
	}
	if _, err := j.Fetch(ctx); err != nil {
		t.Errorf("restart of the joined server with the first one down: %v", err)
	}
	// A bare secret joins too: the fetched CA is then checked against the datastore's.
	bare := Config{DataDir: t.TempDir(), Store: store, Token: token.Token{Secret: tok.Secret}, JoinURL: "https://first:9345", FetchCA: served(t, first)}
	if _, err := bare.Fetch(ctx); err != nil {
		t.Errorf("join with the bare secret: %v", err)
	}
}

func TestJoinIsRefusedWithoutWritingAnything(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	first, tok := firstServer(t, "cluster")
	if err := (Config{DataDir: first, Store: store, KDF: &cheap}).Publish(ctx); err != nil {
		t.Fatal(err)
	}
	other, otherTok := firstServer(t, "other")
	nodeTok, _ := token.Read(token.NodeTokenFile(first))

	for _, tc := range []struct {
		name    string
		store   Store
		tok     token.Token
		fetchCA func(context.Context, string, token.Token) ([]byte, error)
		want    string
	}{
		{"wrong secret", store, token.Token{CAHash: tok.CAHash, Username: "server", Secret: "not-the-secret"}, served(t, first), "does not decrypt"},
		{"the node token", store, nodeTok, served(t, first), "node token"},
		{"a token pinning another CA, served by another cluster", store, otherTok, served(t, other), "does not decrypt"},
		{"the right secret pinned to another CA", store, token.Token{CAHash: otherTok.CAHash, Username: "server", Secret: tok.Secret}, served(t, other), "pins"},
		{"a server of another cluster behind --server", store, token.Token{Secret: tok.Secret}, served(t, other), "serves another CA"},
		{"a pinned CA the server does not serve", store, tok, served(t, other), "does not match"},
		{"an empty datastore", &memStore{}, tok, served(t, first), "no cluster to join"},
		{"a tampered record", &memStore{record: alter(t, store.record, func(e *envelope) { e.Sealed[0] ^= 1 })}, tok, served(t, first), "altered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Config{DataDir: dir, Store: tc.store, Token: tc.tok, JoinURL: "https://first:9345", FetchCA: tc.fetchCA}.Fetch(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fetch: %v, want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.tok.Secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
			if got := snapshot(t, dir); len(got) != 0 {
				t.Errorf("files were written: %v", got)
			}
			t.Log(err)
		})
	}
}

func TestServerOfAnotherClusterIsRefused(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	first, tok := firstServer(t, "cluster")
	if err := (Config{DataDir: first, Store: store, KDF: &cheap}).Publish(ctx); err != nil {
		t.Fatal(err)
	}
	// Without a token and without a token file: nothing to open the data with.
	if _, err := (Config{DataDir: t.TempDir(), Store: store}).Fetch(ctx); err == nil || !strings.Contains(err.Error(), "already holds a cluster") {
		t.Errorf("a new server without a token on a used datastore: %v", err)
	}
	// A data dir of another cluster, restarted on this datastore: its token does not open it.
	other, _ := firstServer(t, "other")
	if _, err := (Config{DataDir: other, Store: store}).Fetch(ctx); err == nil || !strings.Contains(err.Error(), "different clusters") {
		t.Errorf("a data dir of another cluster: %v", err)
	}
	// Same secret, other files (a data dir that drifted): a conflict, nothing overwritten.
	drifted, _ := firstServer(t, "cluster")
	os.Remove(token.ServerTokenFile(drifted))
	os.WriteFile(token.ServerTokenFile(drifted), []byte(tok.String()+"\n"), 0o600)
	os.WriteFile(Files(drifted)[8].Path, []byte("a rotated encryption config"), 0o600)
	before := snapshot(t, drifted)
	_, err := Config{DataDir: drifted, Store: store}.Fetch(ctx)
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("a drifted data dir: %v, want a conflict", err)
	}
	if !strings.Contains(err.Error(), "encryption-config.json") {
		t.Errorf("the conflict does not name the file: %v", err)
	}
	if after := snapshot(t, drifted); len(after) != len(before) || after[Files(drifted)[8].Path] != "a rotated encryption config" {
		t.Error("the drifted data dir was changed")
	}
}

func TestTwoFirstServersRacingOneWins(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	a, _ := firstServer(t, "a")
	b, _ := firstServer(t, "b")
	if err := (Config{DataDir: a, Store: store, KDF: &cheap}).Publish(ctx); err != nil {
		t.Fatal(err)
	}
	err := Config{DataDir: b, Store: store, KDF: &cheap}.Publish(ctx)
	if err == nil || !strings.Contains(err.Error(), "at the same time") {
		t.Errorf("the second publisher: %v", err)
	}
	// The winner publishing again (a restart that lost track) finds its own data: fine.
	if err := (Config{DataDir: a, Store: store, KDF: &cheap}).Publish(ctx); err != nil {
		t.Errorf("publishing the same files again: %v", err)
	}
}

func TestJoinWaitsForTheJoinAPI(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	first, tok := firstServer(t, "cluster")
	if err := (Config{DataDir: first, Store: store, KDF: &cheap}).Publish(ctx); err != nil {
		t.Fatal(err)
	}
	calls := 0
	fetch := func(ctx context.Context, url string, tok token.Token) ([]byte, error) {
		if calls++; calls == 1 {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		}
		return served(t, first)(ctx, url, tok)
	}
	if _, err := (Config{DataDir: t.TempDir(), Store: store, Token: tok, JoinURL: "https://first:9345", FetchCA: fetch}).Fetch(ctx); err != nil || calls != 2 {
		t.Errorf("join after the join API came up: %v (%d attempts)", err, calls)
	}
	// Until the context ends.
	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	down := func(context.Context, string, token.Token) ([]byte, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	dir := t.TempDir()
	if _, err := (Config{DataDir: dir, Store: store, Token: tok, JoinURL: "https://first:9345", FetchCA: down}).Fetch(ctx); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("join with the join API down: %v", err)
	}
	if got := snapshot(t, dir); len(got) != 0 {
		t.Errorf("files were written: %v", got)
	}
}
