package token

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// JoinToken is an extra, revocable token for agents, in the Kubernetes bootstrap token format
// <id>.<secret> ([a-z0-9]{6}.[a-z0-9]{16}), so that it can later live in the datastore as a
// bootstrap-token Secret unchanged.
type JoinToken struct {
	ID          string    `json:"id"`
	Secret      string    `json:"secret"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	// Expires is when the token stops working; zero means never.
	Expires time.Time `json:"expires,omitzero"`
}

// NewJoinToken returns a random join token that expires ttl after now (never when ttl is 0).
func NewJoinToken(description string, ttl time.Duration, now time.Time) (JoinToken, error) {
	if ttl < 0 {
		return JoinToken{}, fmt.Errorf("TTL %s is negative", ttl)
	}
	id, err := randomString(6)
	if err != nil {
		return JoinToken{}, err
	}
	secret, err := randomString(16)
	if err != nil {
		return JoinToken{}, err
	}
	j := JoinToken{ID: id, Secret: secret, Description: description, Created: now.UTC()}
	if ttl > 0 {
		j.Expires = now.Add(ttl).UTC()
	}
	return j, nil
}

// Expired says whether the token no longer works at now.
func (j JoinToken) Expired(now time.Time) bool {
	return !j.Expires.IsZero() && !now.Before(j.Expires)
}

// Token returns the token an agent passes with --token, pinned to caHash.
func (j JoinToken) Token(caHash string) Token {
	return Token{CAHash: caHash, JoinID: j.ID, Secret: j.Secret}
}

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomString draws n characters uniformly from alphabet, rejecting bytes that would bias it.
func randomString(n int) (string, error) {
	limit := byte(256 - 256%len(alphabet))
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < limit && len(out) < n {
				out = append(out, alphabet[b%byte(len(alphabet))])
			}
		}
	}
	return string(out), nil
}

// Errors of a Store.
var (
	ErrNotFound = errors.New("join token not found")
	ErrExists   = errors.New("join token already exists")
)

// Store keeps join tokens. The file implementation serves until tokens move into the datastore.
type Store interface {
	Create(ctx context.Context, t JoinToken) error
	Get(ctx context.Context, id string) (JoinToken, error)
	List(ctx context.Context) ([]JoinToken, error)
	Delete(ctx context.Context, id string) error
}

// FileStore keeps join tokens in one JSON file (0600). A lock file serialises writers across
// processes, so `token create` may run next to a running server.
type FileStore struct {
	path string
	mu   sync.Mutex
}

var _ Store = (*FileStore)(nil)

// JoinTokensFile is <data-dir>/server/join-tokens.json.
func JoinTokensFile(dataDir string) string {
	return filepath.Join(dataDir, "server", "join-tokens.json")
}

// NewFileStore returns a store backed by path.
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

func (s *FileStore) Create(_ context.Context, t JoinToken) error {
	if !joinTokenRE.MatchString(t.ID + "." + t.Secret) {
		return errors.New("join token is not of the form [a-z0-9]{6}.[a-z0-9]{16}")
	}
	return s.update(func(tokens []JoinToken) ([]JoinToken, error) {
		if slices.ContainsFunc(tokens, func(o JoinToken) bool { return o.ID == t.ID }) {
			return nil, fmt.Errorf("%w: %s", ErrExists, t.ID)
		}
		return append(tokens, t), nil
	})
}

func (s *FileStore) Get(ctx context.Context, id string) (JoinToken, error) {
	tokens, err := s.List(ctx)
	if err != nil {
		return JoinToken{}, err
	}
	for _, t := range tokens {
		if t.ID == id {
			return t, nil
		}
	}
	return JoinToken{}, fmt.Errorf("%w: %s", ErrNotFound, id)
}

func (s *FileStore) List(context.Context) ([]JoinToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load()
}

func (s *FileStore) Delete(_ context.Context, id string) error {
	return s.update(func(tokens []JoinToken) ([]JoinToken, error) {
		i := slices.IndexFunc(tokens, func(t JoinToken) bool { return t.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return slices.Delete(tokens, i, i+1), nil
	})
}

func (s *FileStore) load() ([]JoinToken, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var tokens []JoinToken
	if err := json.Unmarshal(data, &tokens); err != nil {
		return nil, fmt.Errorf("join token file %s (left untouched): %w", s.path, err)
	}
	return tokens, nil
}

func (s *FileStore) update(change func([]JoinToken) ([]JoinToken, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFile(s.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	tokens, err := s.load()
	if err != nil {
		return err
	}
	if tokens, err = change(tokens); err != nil {
		return err
	}
	slices.SortFunc(tokens, func(a, b JoinToken) int { return strings.Compare(a.ID, b.ID) })
	data, err := json.MarshalIndent(tokens, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path, append(data, '\n'), 0o600)
}

// lockFile takes an exclusive advisory lock that other processes using the store respect.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
