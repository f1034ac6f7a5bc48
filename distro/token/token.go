// Package token parses, creates and checks the tokens that let servers and agents join.
//
// The secure form is
//
//	K10<sha256 hex of the server CA bundle>::<username>:<secret>
//	K10<sha256 hex of the server CA bundle>::<id>.<secret>      (join token)
//
// where the hash pins the CA: a client fetches the bundle from /cacerts without trusting the
// connection and refuses to continue unless the bundle hashes to the pinned value.
//
// A bare secret (or a bare join token "<id>.<secret>") is accepted too. It pins nothing: the
// client trusts whatever CA the server presents on first contact, so anyone able to intercept
// that first connection can impersonate the server. Use bare tokens only on trusted networks.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Prefix starts every secure token; "10" is the format version.
const Prefix = "K10"

// Usernames of the two long-lived tokens.
const (
	ServerUser = "server"
	NodeUser   = "node"
)

// Token is a parsed token. Exactly one of Username and JoinID is set for the secure form; a bare
// secret has neither.
type Token struct {
	// CAHash is the hex SHA-256 of the CA bundle, empty when the token does not pin the CA.
	CAHash string
	// Username is "server" or "node" for the long-lived tokens.
	Username string
	// JoinID is the public half of a join token ("abcdef" in "abcdef.0123456789abcdef").
	JoinID string
	// Secret is the part that must be kept secret.
	Secret string
}

var joinTokenRE = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

// Parse reads a token. Errors never repeat the secret.
func Parse(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, errors.New("token is empty")
	}
	head, creds, secure := strings.Cut(s, "::")
	if !secure {
		if strings.HasPrefix(s, Prefix) && len(s) > len(Prefix)+sha256.Size*2 {
			return Token{}, fmt.Errorf("token starts with %s and a CA hash but has no \"::\" before the credentials", Prefix)
		}
		if m := joinTokenRE.FindStringSubmatch(s); m != nil {
			return Token{JoinID: m[1], Secret: m[2]}, nil
		}
		return Token{Secret: s}, nil
	}
	if !strings.HasPrefix(head, Prefix) {
		return Token{}, fmt.Errorf("token has \"::\" but does not start with %s", Prefix)
	}
	hash := head[len(Prefix):]
	if len(hash) != sha256.Size*2 {
		return Token{}, fmt.Errorf("token's CA hash has %d characters, want %d", len(hash), sha256.Size*2)
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return Token{}, errors.New("token's CA hash is not hexadecimal")
	}
	t := Token{CAHash: strings.ToLower(hash)}
	if m := joinTokenRE.FindStringSubmatch(creds); m != nil {
		t.JoinID, t.Secret = m[1], m[2]
		return t, nil
	}
	user, secret, ok := strings.Cut(creds, ":")
	switch {
	case creds == "":
		return Token{}, errors.New("token has nothing after \"::\"; want <username>:<secret> or a join token")
	case !ok:
		return Token{}, errors.New("token lacks \":\" between username and secret, and is not a join token <6 chars>.<16 chars>")
	case user == "":
		return Token{}, errors.New("token's username is empty")
	case secret == "":
		return Token{}, errors.New("token's secret is empty")
	}
	t.Username, t.Secret = user, secret
	return t, nil
}

// String formats the token in the form Parse reads.
func (t Token) String() string {
	creds := t.Secret
	switch {
	case t.JoinID != "":
		creds = t.JoinID + "." + t.Secret
	case t.CAHash != "":
		creds = t.Username + ":" + t.Secret
	}
	if t.CAHash == "" {
		return creds
	}
	return Prefix + t.CAHash + "::" + creds
}

// Pinned says whether the token pins the CA.
func (t Token) Pinned() bool { return t.CAHash != "" }

// HashCA returns the hex SHA-256 of a CA bundle as tokens carry it.
func HashCA(bundle []byte) string {
	sum := sha256.Sum256(bundle)
	return hex.EncodeToString(sum[:])
}

// ErrCAMismatch means the CA bundle is not the one the token pins.
var ErrCAMismatch = errors.New("CA bundle does not match the hash in the token")

// VerifyCA checks bundle against the pinned hash; an unpinned token accepts any bundle.
func (t Token) VerifyCA(bundle []byte) error {
	if !t.Pinned() {
		return nil
	}
	if got := HashCA(bundle); got != t.CAHash {
		return fmt.Errorf("%w: bundle hashes to %s, token pins %s", ErrCAMismatch, got, t.CAHash)
	}
	return nil
}

// NewSecret returns 128 random bits as 32 hex characters.
func NewSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// secretsEqual compares in time independent of where the inputs differ and of their lengths.
func secretsEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
