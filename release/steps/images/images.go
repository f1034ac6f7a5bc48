// Package images adds the airgap image archive and its image list to the release when
// the node build produced them.
package images

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/pipeline"
)

// Asset names, which are also the file names in dist/.
const (
	Archive = version.Program + "-airgap-images-amd64.tar.zst"
	List    = version.Program + "-images.txt"
)

// Step is the images step.
type Step struct{}

var _ pipeline.Step = Step{}

// Name implements pipeline.Step.
func (Step) Name() string { return "images" }

// Run implements pipeline.Step. Both files or neither: an archive without its list (or
// the other way round) is a broken node build, not something to skip.
func (Step) Run(_ context.Context, c *pipeline.Context) (pipeline.Result, error) {
	archive := filepath.Join(c.DistDir, Archive)
	list := filepath.Join(c.DistDir, List)
	haveArchive, err := exists(archive)
	if err != nil {
		return nil, err
	}
	haveList, err := exists(list)
	if err != nil {
		return nil, err
	}
	switch {
	case !haveArchive && !haveList:
		return pipeline.Skipped{Reason: fmt.Sprintf("the node build produced no airgap images (%s and %s are absent)", archive, list)}, nil
	case !haveList:
		return nil, fmt.Errorf("%s exists but %s does not: the image list must ship with the archive", archive, list)
	case !haveArchive:
		return nil, fmt.Errorf("%s exists but %s does not: the list names images nobody ships", list, archive)
	}
	images, err := readList(list)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(archive)
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%s is empty", archive)
	}
	c.Add(pipeline.Artifact{Name: Archive, Path: archive})
	c.Add(pipeline.Artifact{Name: List, Path: list})
	return pipeline.Done{Detail: fmt.Sprintf("%d images in %s (%.1f MiB)", len(images), Archive, float64(st.Size())/(1<<20))}, nil
}

func exists(path string) (bool, error) {
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !st.Mode().IsRegular() {
		return false, fmt.Errorf("%s is not a regular file", path)
	}
	return true, nil
}

// readList reads one image reference a line; it must name at least one, and no line may
// hold anything but a reference.
func readList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var images []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("%s:%d: %q is not one image reference", path, n, line)
		}
		images = append(images, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("%s names no images", path)
	}
	return images, nil
}
