package build

import (
	"context"
	"fmt"

	"github.com/distro-io/distro/release/upstream"
	releaseversion "github.com/distro-io/distro/release/version"
)

// StampFor derives what the binary says about itself from the lock and the repository.
//
// release is the version the binary is released as; empty means the lock's own,
// vX.Y.Z+distroN. A release candidate (vX.Y.Z-rcM+distroN) has to be given here, as the
// lock cannot name one. A given version must be of the lock's Kubernetes release and
// revision: a binary calling itself something its sources are not is refused.
func StampFor(ctx context.Context, repoDir string, lock *upstream.Lock, release string) (Stamp, error) {
	version, err := releaseFor(lock, release)
	if err != nil {
		return Stamp{}, err
	}
	commit, state, date, err := GitStamp(ctx, repoDir)
	if err != nil {
		return Stamp{}, err
	}
	s := Stamp{
		Version:         version,
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

// releaseFor checks a given release version against the lock, or takes the lock's.
func releaseFor(lock *upstream.Lock, release string) (string, error) {
	if release == "" {
		return lock.ReleaseVersion(), nil
	}
	v, err := releaseversion.Parse(release)
	if err != nil {
		return "", fmt.Errorf("stamping the binary: %w", err)
	}
	if k8s := lock.Kubernetes().Version; v.Kubernetes() != k8s || v.Revision() != lock.Revision {
		return "", fmt.Errorf("stamping the binary as %s: upstream.lock builds Kubernetes %s at revision %d (%s), not Kubernetes %s at revision %d",
			v, k8s, lock.Revision, lock.ReleaseVersion(), v.Kubernetes(), v.Revision())
	}
	return v.String(), nil
}
