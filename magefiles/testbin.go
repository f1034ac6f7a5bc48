//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/release/testbin"
)

// Testbin builds the programs the tests run beside distro.
type Testbin mg.Namespace

// Etcd builds etcd from the module upstream.lock pins with role test and prints its path
// (cached in $HOME/.cache/distro/testbin by a hash of its inputs). The datastore tests build
// it themselves when needed; ETCD_BINARY=$(go tool mage testbin:etcd) feeds bench:server.
func (Testbin) Etcd(ctx context.Context) error {
	path, err := testbin.Etcd(ctx, testbin.Options{Lock: upstreamLock, Log: os.Stderr})
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}
