package token

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// ServerTokenFile is the token servers join with: <data-dir>/server/token.
func ServerTokenFile(dataDir string) string { return filepath.Join(dataDir, "server", "token") }

// NodeTokenFile is the token agents join with: <data-dir>/server/node-token. It has its own
// secret, so that a leaked node token cannot add a server.
func NodeTokenFile(dataDir string) string { return filepath.Join(dataDir, "server", "node-token") }

// Ensure returns the token stored at path, creating the file (0600) on first use for username,
// pinned to caHash, with secret or, when secret is empty, a random one. An existing file is never
// rewritten: if it disagrees with the arguments, that is an error naming the file.
func Ensure(path, username, caHash, secret string) (Token, error) {
	for {
		t, err := read(path)
		if err == nil {
			return t, check(path, t, username, caHash, secret)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Token{}, err
		}
		t = Token{CAHash: caHash, Username: username, Secret: secret}
		if t.Secret == "" {
			if t.Secret, err = NewSecret(); err != nil {
				return Token{}, err
			}
		}
		if _, err := Parse(t.String()); err != nil {
			return Token{}, fmt.Errorf("token for %s: %w", path, err)
		}
		err = atomicfile.Create(path, []byte(t.String()+"\n"), 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // another process created it first: use theirs
		}
		return t, err
	}
}

func read(path string) (Token, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Token{}, err
	}
	t, err := Parse(string(data))
	if err != nil {
		return Token{}, fmt.Errorf("token file %s (left untouched): %w", path, err)
	}
	return t, nil
}

// Read returns the token stored at path.
func Read(path string) (Token, error) { return read(path) }

func check(path string, t Token, username, caHash, secret string) error {
	switch {
	case t.Username != username:
		return fmt.Errorf("token file %s is for user %q, want %q", path, t.Username, username)
	case t.CAHash != caHash:
		return fmt.Errorf("token file %s pins CA hash %s but the server CA hashes to %s; the CA was replaced, remove the token file to issue a new token", path, t.CAHash, caHash)
	case secret != "" && !secretsEqual(secret, t.Secret):
		return fmt.Errorf("the given token differs from the one in %s; remove the file to change the token", path)
	}
	return nil
}
