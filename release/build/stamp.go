package build

import (
	"context"

	"github.com/distro-io/distro/release/upstream"
)

// StampFor derives what the binary says about itself from the lock and the repository.
func StampFor(ctx context.Context, repoDir string, lock *upstream.Lock) (Stamp, error) {
	commit, state, date, err := GitStamp(ctx, repoDir)
	if err != nil {
		return Stamp{}, err
	}
	s := Stamp{
		Version:         lock.ReleaseVersion(),
		UpstreamVersion: lock.Kubernetes().Version,
		GitCommit:       commit,
		TreeState:       state,
		BuildDate:       date,
	}
	if m, ok := lock.Find("github.com/containerd/containerd/v2"); ok {
		s.ContainerdVer = m.Version
	}
	if m, ok := lock.Find("github.com/k3s-io/kine"); ok {
		s.KineVersion = m.Version
	}
	return s, nil
}
