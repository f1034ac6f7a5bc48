//go:build mage

package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/release/bench/nodebench"
	stepimages "github.com/distro-io/distro/release/steps/images"
)

// Node starts dist/distro server with its node BENCH_RUNS times (default 3) from a fresh data
// dir and prints start → node Ready, start → cluster DNS available, the PSS/RSS/anonymous
// memory of every process of the node after BENCH_IDLE (default 2m), create → Running of
// BENCH_PODS pods (default 30) created at once, SIGTERM → exit and restart → node Ready; then
// (unless BENCH_CLUSTER=0) a server and two agents in network namespaces to 3 nodes Ready.
func (Bench) Node(ctx context.Context) error {
	mg.CtxDeps(ctx, Build, Images.Build)
	runs, err := envInt("BENCH_RUNS", 3)
	if err != nil {
		return err
	}
	idle := 2 * time.Minute
	if v := os.Getenv("BENCH_IDLE"); v != "" {
		if idle, err = time.ParseDuration(v); err != nil {
			return err
		}
	}
	pods, err := envInt("BENCH_PODS", 30)
	if err != nil {
		return err
	}
	return nodebench.Run(ctx, nodebench.Options{
		Pods:    pods,
		Binary:  distPath,
		Airgap:  filepath.Join(filepath.Dir(distPath), stepimages.Archive),
		Runs:    runs,
		Idle:    idle,
		Cluster: os.Getenv("BENCH_CLUSTER") != "0",
		Log:     os.Stderr,
	}, os.Stdout)
}
