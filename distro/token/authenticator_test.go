package token

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	store := NewFileStore(JoinTokensFile(t.TempDir()))
	live, _ := NewJoinToken("live", time.Hour, now)
	expired, _ := NewJoinToken("expired", time.Hour, now.Add(-2*time.Hour))
	for _, j := range []JoinToken{live, expired} {
		if err := store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	a := &Authenticator{
		CAHash:       hash,
		ServerSecret: "server-secret",
		NodeSecret:   "node-secret",
		JoinTokens:   store,
		Now:          func() time.Time { return now },
	}
	otherHash := HashCA([]byte("other"))

	tests := []struct {
		name      string
		presented string
		want      Identity
		wantErr   string
		expired   bool
	}{
		{name: "server token", presented: "K10" + hash + "::server:server-secret", want: Identity{Username: "server", Role: RoleServer}},
		{name: "node token", presented: "K10" + hash + "::node:node-secret", want: Identity{Username: "node", Role: RoleNode}},
		{name: "bare server secret", presented: "server-secret", want: Identity{Username: "server", Role: RoleServer}},
		{name: "bare node secret", presented: "node-secret", want: Identity{Username: "node", Role: RoleNode}},
		{name: "join token", presented: live.Token(hash).String(), want: Identity{Username: "join:" + live.ID, Role: RoleNode, JoinID: live.ID}},
		{name: "bare join token", presented: live.ID + "." + live.Secret, want: Identity{Username: "join:" + live.ID, Role: RoleNode, JoinID: live.ID}},
		{name: "wrong secret", presented: "K10" + hash + "::server:guess", wantErr: "wrong secret"},
		{name: "node secret as server", presented: "K10" + hash + "::server:node-secret", wantErr: "wrong secret"},
		{name: "server secret as node", presented: "K10" + hash + "::node:server-secret", wantErr: "wrong secret"},
		{name: "prefix of the secret", presented: "server-secre", wantErr: "wrong secret"},
		{name: "unknown user", presented: "K10" + hash + "::admin:server-secret", wantErr: "unknown token user"},
		{name: "other CA", presented: "K10" + otherHash + "::server:server-secret", wantErr: "pins CA hash"},
		{name: "malformed", presented: "K10" + hash[:5] + "::server:x", wantErr: "characters"},
		{name: "expired join token", presented: expired.Token(hash).String(), wantErr: "expired", expired: true},
		{name: "unknown join token", presented: "zzzzzz.0123456789abcdef", wantErr: "unknown join token"},
		{name: "join token wrong secret", presented: live.ID + ".0123456789abcdef", wantErr: "wrong secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Check(ctx, tt.presented)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want ErrUnauthorized containing %q", err, tt.wantErr)
			}
			if errors.Is(err, ErrExpired) != tt.expired {
				t.Errorf("errors.Is(err, ErrExpired) = %v", !tt.expired)
			}
			if got != (Identity{}) {
				t.Errorf("refused token still returned identity %+v", got)
			}
		})
	}

	// After deletion the join token no longer works.
	if err := store.Delete(ctx, live.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Check(ctx, live.Token(hash).String()); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("deleted join token: %v", err)
	}
}
