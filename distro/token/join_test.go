package token

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewJoinTokenFormatAndExpiry(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	seen := map[string]bool{}
	format := regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	for range 200 {
		j, err := NewJoinToken("ci", time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		s := j.ID + "." + j.Secret
		if !format.MatchString(s) {
			t.Fatalf("join token %q is not a bootstrap token", s)
		}
		if seen[s] {
			t.Fatalf("duplicate token %q", s)
		}
		seen[s] = true
	}
	j, _ := NewJoinToken("", time.Hour, now)
	if j.Expired(now.Add(59*time.Minute)) || !j.Expired(now.Add(time.Hour)) {
		t.Error("expiry is not one hour after creation")
	}
	forever, _ := NewJoinToken("", 0, now)
	if forever.Expired(now.AddDate(100, 0, 0)) {
		t.Error("a token without TTL expired")
	}
	if _, err := NewJoinToken("", -time.Second, now); err == nil {
		t.Error("negative TTL accepted")
	}
	if got := j.Token(hash).String(); got != "K10"+hash+"::"+j.ID+"."+j.Secret {
		t.Errorf("pinned join token %q", got)
	}
}

func TestFileStoreCreateListGetDelete(t *testing.T) {
	ctx := context.Background()
	path := JoinTokensFile(t.TempDir())
	store := NewFileStore(path)
	if got, err := store.List(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store lists %v, %v", got, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	a, _ := NewJoinToken("first", time.Hour, now)
	b, _ := NewJoinToken("second", 0, now)
	for _, j := range []JoinToken{a, b} {
		if err := store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Create(ctx, a); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate create: %v", err)
	}
	if err := store.Create(ctx, JoinToken{ID: "ABC", Secret: "x"}); err == nil {
		t.Error("malformed token stored")
	}

	// A second store on the same file sees the same tokens: they are on disk.
	reopened := NewFileStore(path)
	got, err := reopened.Get(ctx, a.ID)
	if err != nil || got.Secret != a.Secret || got.Description != "first" || !got.Expires.Equal(a.Expires) {
		t.Fatalf("Get %+v, %v; want %+v", got, err, a)
	}
	list, _ := reopened.List(ctx)
	if len(list) != 2 {
		t.Fatalf("List has %d tokens", len(list))
	}
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("store file mode %v", info.Mode().Perm())
	}

	if err := reopened.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := store.Delete(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}

	var table bytes.Buffer
	WriteTable(&table, []JoinToken{a, b}, hash, now.Add(2*time.Hour))
	if !strings.Contains(table.String(), "<expired>") || !strings.Contains(table.String(), "<forever>") || !strings.Contains(table.String(), b.ID+"."+b.Secret) {
		t.Errorf("table:\n%s", table.String())
	}
}

func TestFileStoreConcurrentCreatesLoseNothing(t *testing.T) {
	ctx := context.Background()
	path := JoinTokensFile(t.TempDir())
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, _ := NewJoinToken("", 0, time.Now())
			// A store per goroutine: only the lock file serialises them, as between processes.
			if err := NewFileStore(path).Create(ctx, j); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	list, err := NewFileStore(path).List(ctx)
	if err != nil || len(list) != 20 {
		t.Fatalf("List has %d tokens, want 20 (%v)", len(list), err)
	}
}

func TestFileStoreRefusesAMalformedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "join-tokens.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	j, _ := NewJoinToken("", 0, time.Now())
	err := NewFileStore(path).Create(context.Background(), j)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "{not json" {
		t.Error("malformed file was overwritten")
	}
}
