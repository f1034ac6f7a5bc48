// Package bootstrap shares what every server of a cluster must hold alike (the CAs and their
// keys, the service-account key pair, the encryption configuration and the tokens) through the
// cluster's datastore, sealed under a key derived from the server token (see seal.go), so the
// datastore alone does not give them away.
//
// The first server publishes its files once it has made them. A server that joins (--server)
// verifies the first server's CA against the token's pinned hash, then fetches and decrypts the
// files before it makes its PKI, so it only issues its own leaf certificates. Every server
// checks at every start that its files are still the datastore's, and refuses to start, writing
// nothing, when they are not.
//
// Only a datastore servers can share takes part: PostgreSQL and MySQL through kine, and etcd.
// A server on its own SQLite file has nobody to share with.
package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"time"

	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/token"
)

// Config is what Fetch and Publish need.
type Config struct {
	// DataDir is the server's data dir.
	DataDir string
	Store   Store
	// Token is the token the server was started with (--token or --token-file): the cluster's
	// server token, or a bare secret. Zero when none was given.
	Token token.Token
	// JoinURL is the join API of the server --server names (https://host:9345); empty on a
	// server that is not told to join.
	JoinURL string
	// FetchCA downloads and verifies the CA bundle at the join API; token.FetchCA when nil.
	FetchCA func(ctx context.Context, url string, t token.Token) ([]byte, error)
	// KDF overrides DefaultKDF when sealing (tests use cheap parameters).
	KDF *KDFParams
}

// secret is the token secret that opens the cluster's data, and where it came from.
func (c Config) secret() (string, string, error) {
	if c.Token.Secret != "" {
		return c.Token.Secret, "the given token", nil
	}
	path := token.ServerTokenFile(c.DataDir)
	t, err := token.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", "", nil
	case err != nil:
		return "", "", err
	}
	return t.Secret, "the server token in " + path, nil
}

// Fetch reads the cluster's bootstrap data and makes the shared files on disk hold it. found
// is false when the datastore holds none yet; that is an error for a server told to join.
func (c Config) Fetch(ctx context.Context) (found bool, err error) {
	rec, found, err := c.Store.Get(ctx)
	if err != nil {
		return false, err
	}
	if !found {
		if c.JoinURL != "" {
			return false, fmt.Errorf("the datastore holds no cluster to join (no bootstrap data at %s): give this server the datastore "+
				"the server at %s uses (--datastore-endpoint), or leave out --server to start a new cluster", Key, c.JoinURL)
		}
		return false, nil
	}
	secret, source, err := c.secret()
	if err != nil {
		return true, err
	}
	if secret == "" {
		return true, fmt.Errorf("the datastore already holds a cluster (bootstrap data at %s) and this server has no token: "+
			"to join it, give its server token (--token or --token-file; a server keeps it in <data-dir>/server/token) and "+
			"--server https://<one of its servers>:6443; to start a new cluster, give this server a datastore of its own", Key)
	}

	files := Files(c.DataDir)
	caFile := files[0].Path
	var served []byte
	if _, statErr := os.Stat(caFile); c.JoinURL != "" && errors.Is(statErr, fs.ErrNotExist) {
		// Joining for the first time: the server named is the cluster the token pins. (On later
		// starts the data dir already holds the CA, and the first server may be down.)
		if served, err = c.fetchCA(ctx); err != nil {
			return true, fmt.Errorf("joining through %s: %w", c.JoinURL, err)
		}
	}

	plaintext, err := Open(secret, rec.Value)
	switch {
	case errors.Is(err, ErrWrongToken) && c.Token.Secret != "":
		return true, fmt.Errorf("%w (a node token or a join token cannot add a server; use the server token, <data-dir>/server/token on a server of the cluster); nothing was written", err)
	case errors.Is(err, ErrWrongToken):
		return true, fmt.Errorf("%s does not decrypt the bootstrap data in the datastore, so this data dir and the datastore belong to different clusters; nothing was changed: %w", source, err)
	case err != nil:
		return true, fmt.Errorf("%w; nothing was written", err)
	}
	data, err := decode(plaintext)
	if err != nil {
		return true, err
	}
	ca := data[serverCAName(files)]
	if c.Token.Pinned() && token.HashCA(ca) != c.Token.CAHash {
		return true, fmt.Errorf("the cluster CA in the datastore hashes to %s but the token pins %s: the token and the datastore belong to different clusters; nothing was written",
			token.HashCA(ca), c.Token.CAHash)
	}
	if served != nil && !bytes.Equal(served, ca) {
		return true, fmt.Errorf("the server at %s serves another CA than the one in the datastore: --server and --datastore-endpoint name different clusters; nothing was written", c.JoinURL)
	}
	written, err := Reconcile(files, data)
	if len(written) > 0 {
		klog.InfoS("Wrote the cluster's bootstrap data from the datastore", "files", written)
	}
	if err != nil {
		return true, err
	}
	klog.InfoS("This server's shared files are the cluster's", "datastoreKey", Key)
	return true, nil
}

// fetchCA gets the CA bundle from the join API, waiting while it cannot be reached: the first
// server starts its join API a moment after its apiserver, and servers may start together.
// A CA that does not match the token ends it at once.
func (c Config) fetchCA(ctx context.Context) ([]byte, error) {
	fetch := c.FetchCA
	if fetch == nil {
		fetch = token.FetchCA
	}
	delay := time.Second
	for {
		bundle, err := fetch(ctx, c.JoinURL, c.Token)
		var netErr net.Error
		if err == nil || !errors.As(err, &netErr) {
			return bundle, err
		}
		klog.InfoS("Waiting for the join API of the server to join", "url", c.JoinURL, "err", err, "retry", delay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %v)", context.Cause(ctx), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 15*time.Second)
	}
}

// Publish seals the shared files, which the first server has just made, under its server
// token and stores them unless another server stored its own first; then those must match
// this server's (Fetch decides).
func (c Config) Publish(ctx context.Context) error {
	files := Files(c.DataDir)
	data, err := Collect(files)
	if err != nil {
		return err
	}
	tok, err := token.Read(token.ServerTokenFile(c.DataDir))
	if err != nil {
		return err
	}
	plaintext, err := data.encode()
	if err != nil {
		return err
	}
	record, err := c.seal(tok.Secret, plaintext)
	if err != nil {
		return err
	}
	created, err := c.Store.Create(ctx, record)
	if err != nil {
		return err
	}
	if created {
		klog.InfoS("Stored the cluster's bootstrap data in the datastore, sealed under the server token", "key", Key)
		return nil
	}
	klog.InfoS("Another server stored the cluster's bootstrap data first; checking this server's files against it")
	c.JoinURL = ""
	if _, err := c.Fetch(ctx); err != nil {
		return fmt.Errorf("another server started a cluster in this datastore at the same time: %w", err)
	}
	return nil
}

func (c Config) seal(secret string, plaintext []byte) ([]byte, error) {
	kdf := DefaultKDF
	if c.KDF != nil {
		kdf = *c.KDF
	}
	return seal(secret, plaintext, kdf)
}
