package token

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Role is what a token lets its holder join as.
type Role string

const (
	RoleServer Role = "server"
	RoleNode   Role = "node"
)

// Identity is who presented a token.
type Identity struct {
	// Username is "server", "node" or "join:<id>".
	Username string
	Role     Role
	// JoinID is set when a join token was used.
	JoinID string
}

// Errors of Check. Every refusal wraps ErrUnauthorized; the wrapped reason is for the server's
// log, not for the client.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrExpired      = errors.New("join token expired")
)

// Authenticator checks the tokens joining servers and agents present.
type Authenticator struct {
	// CAHash is the hash of this server's CA bundle; a token pinning another CA is refused.
	CAHash string
	// ServerSecret and NodeSecret are the secrets of the server and node tokens.
	ServerSecret string
	NodeSecret   string
	// JoinTokens holds extra join tokens; nil when there are none.
	JoinTokens Store
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Check returns the identity behind presented. Secrets are compared in constant time; expired
// join tokens are refused. Join tokens grant the node role only.
func (a *Authenticator) Check(ctx context.Context, presented string) (Identity, error) {
	t, err := Parse(presented)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if t.Pinned() && t.CAHash != a.CAHash {
		return Identity{}, fmt.Errorf("%w: token pins CA hash %s, this server's CA hashes to %s", ErrUnauthorized, t.CAHash, a.CAHash)
	}
	if t.JoinID != "" {
		return a.checkJoinToken(ctx, t)
	}

	// Compare with both secrets whatever the username, so timing tells nothing about which matched.
	isServer := a.ServerSecret != "" && secretsEqual(t.Secret, a.ServerSecret)
	isNode := a.NodeSecret != "" && secretsEqual(t.Secret, a.NodeSecret)
	switch {
	case (t.Username == ServerUser || t.Username == "") && isServer:
		return Identity{Username: ServerUser, Role: RoleServer}, nil
	case (t.Username == NodeUser || t.Username == "") && isNode:
		return Identity{Username: NodeUser, Role: RoleNode}, nil
	case t.Username != "" && t.Username != ServerUser && t.Username != NodeUser:
		return Identity{}, fmt.Errorf("%w: unknown token user %q", ErrUnauthorized, t.Username)
	}
	return Identity{}, fmt.Errorf("%w: wrong secret for user %q", ErrUnauthorized, t.Username)
}

func (a *Authenticator) checkJoinToken(ctx context.Context, t Token) (Identity, error) {
	if a.JoinTokens == nil {
		return Identity{}, fmt.Errorf("%w: join token %s presented but this server keeps none", ErrUnauthorized, t.JoinID)
	}
	j, err := a.JoinTokens.Get(ctx, t.JoinID)
	if errors.Is(err, ErrNotFound) {
		return Identity{}, fmt.Errorf("%w: unknown join token %s", ErrUnauthorized, t.JoinID)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("look up join token %s: %w", t.JoinID, err)
	}
	if !secretsEqual(t.Secret, j.Secret) {
		return Identity{}, fmt.Errorf("%w: wrong secret for join token %s", ErrUnauthorized, t.JoinID)
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if j.Expired(now()) {
		return Identity{}, fmt.Errorf("%w: %w: %s at %s", ErrUnauthorized, ErrExpired, j.ID, j.Expires.Format(time.RFC3339))
	}
	return Identity{Username: "join:" + j.ID, Role: RoleNode, JoinID: j.ID}, nil
}
