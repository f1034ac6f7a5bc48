package upstream

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/semver"
)

// Bump returns a new lock with the kubernetes module at kubernetesVersion and every staging
// module at the matching v0.X.Y, their sums fetched through the go command (which checks them
// against the checksum database unless GOSUMDB or GONOSUMDB say otherwise), and the revision
// reset to 1. Linked and payload modules are kept as they are. The given lock is not changed.
func Bump(ctx context.Context, lock *Lock, kubernetesVersion string, opts Options) (*Lock, error) {
	current := lock.Kubernetes()
	if current.Path == "" {
		return nil, errors.New("the lock has no kubernetes module")
	}
	if !semver.IsValid(kubernetesVersion) || semver.Canonical(kubernetesVersion) != kubernetesVersion || semver.Major(kubernetesVersion) != "v1" {
		return nil, fmt.Errorf("bump %s: %q is not a Kubernetes version such as v1.37.3", current.Path, kubernetesVersion)
	}
	if semver.Compare(kubernetesVersion, current.Version) <= 0 {
		return nil, fmt.Errorf("bump %s: %s is not newer than the locked %s", current.Path, kubernetesVersion, current.Version)
	}
	next := lock.Clone()
	next.Revision = 1
	var moving []int
	for i, m := range next.Modules {
		switch m.Role {
		case RoleKubernetes:
			next.Modules[i].Version = kubernetesVersion
		case RoleStaging:
			next.Modules[i].Version = StagingVersion(kubernetesVersion)
		default:
			continue
		}
		moving = append(moving, i)
	}
	if err := fillSums(ctx, next, moving, opts); err != nil {
		return nil, err
	}
	return next, next.Validate()
}

// Refresh returns a new lock whose empty sums are filled in through the go command. A person
// adding a module may write `sum: ""` and let Refresh record the hash: it is then trusted
// as the go command fetched it, checked against the checksum database unless GOSUMDB or
// GONOSUMDB say otherwise. Sums already present are left alone; Verify checks those.
func Refresh(ctx context.Context, lock *Lock, opts Options) (*Lock, error) {
	next := lock.Clone()
	var missing []int
	for i, m := range next.Modules {
		if m.Sum == "" {
			missing = append(missing, i)
		}
	}
	if err := fillSums(ctx, next, missing, opts); err != nil {
		return nil, err
	}
	return next, nil
}

// fillSums resolves the modules at the given indexes and records their sums.
func fillSums(ctx context.Context, lock *Lock, indexes []int, opts Options) error {
	errs := make([]error, len(indexes))
	each(len(indexes), opts.jobs(), func(j int) {
		m := &lock.Modules[indexes[j]]
		got, _, err := Resolve(ctx, m.Path, m.Version, opts)
		m.Sum, errs[j] = got.Sum, err
	})
	return errors.Join(errs...)
}
