// Package artifacts collects the files the build made into the release: the distro
// binary users download (dist/distro).
package artifacts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/pipeline"
)

// Binary is the asset name of the self-extracting binary, which is also its file name in dist/.
const Binary = version.Program

// Step is the artifacts step.
type Step struct{}

var _ pipeline.Step = Step{}

// Name implements pipeline.Step.
func (Step) Name() string { return "artifacts" }

// Run implements pipeline.Step.
func (Step) Run(_ context.Context, c *pipeline.Context) (pipeline.Result, error) {
	path := filepath.Join(c.DistDir, Binary)
	st, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return nil, fmt.Errorf("%s does not exist: the build made no binary", path)
	case err != nil:
		return nil, err
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case st.Size() == 0:
		return nil, fmt.Errorf("%s is empty", path)
	case st.Mode().Perm()&0o111 == 0:
		return nil, fmt.Errorf("%s is not executable (mode %v)", path, st.Mode().Perm())
	}
	c.Add(pipeline.Artifact{Name: Binary, Path: path})
	return pipeline.Done{Detail: fmt.Sprintf("%s (%.1f MiB)", path, float64(st.Size())/(1<<20))}, nil
}
