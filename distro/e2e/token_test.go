package e2e

import (
	"errors"
	"strings"
	"testing"

	"github.com/distro-io/distro/distro/server/supervisor"
	"github.com/distro-io/distro/distro/token"
)

func TestTokenCreateListJoinDelete(t *testing.T) {
	s, url := startWithJoinAPI(t)
	dd := []string{"--data-dir", s.dataDir}

	out := strings.TrimSpace(run(t, s.bin, s.env, append([]string{"token", "create", "--ttl", "1h", "--description", "e2e agent"}, dd...)...))
	tok, err := token.Parse(out)
	if err != nil || tok.JoinID == "" || !tok.Pinned() {
		t.Fatalf("token create printed %q: %v; want K10<hash>::<id>.<secret>", out, err)
	}
	nodeTok := readToken(t, token.NodeTokenFile(s.dataDir))
	if tok.CAHash != nodeTok.CAHash {
		t.Errorf("the join token pins %s, the server's CA hashes to %s", tok.CAHash, nodeTok.CAHash)
	}

	list := run(t, s.bin, s.env, append([]string{"token", "list"}, dd...)...)
	if !strings.Contains(list, out) || !strings.Contains(list, "e2e agent") {
		t.Errorf("token list does not show the new token:\n%s", list)
	}

	if _, err := join(t, url, tok, "joined-with-token"); err != nil {
		t.Fatalf("join with the created token: %v\n%s", err, tail(s.log.String(), 20))
	}

	run(t, s.bin, s.env, append([]string{"token", "delete", tok.JoinID}, dd...)...)
	if list := run(t, s.bin, s.env, append([]string{"token", "list"}, dd...)...); strings.Contains(list, tok.JoinID) {
		t.Errorf("token list still shows the deleted token:\n%s", list)
	}
	if _, err := join(t, url, tok, "joined-with-token"); !errors.Is(err, supervisor.ErrRefused) {
		t.Errorf("join with the deleted token: %v, want a 401 refusal", err)
	}
	s.stop()
}
