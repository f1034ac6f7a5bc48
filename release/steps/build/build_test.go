package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/pipeline/pipelinetest"
)

func TestBuildRunsTheInjectedBuild(t *testing.T) {
	c := &pipeline.Context{DistDir: t.TempDir(), Version: pipelinetest.Version(t, "v1.37.2+distro1")}
	res, err := Step{Build: func(_ context.Context, c *pipeline.Context) error {
		return os.WriteFile(filepath.Join(c.DistDir, "distro"), []byte(c.Version.String()), 0o755)
	}}.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(c.DistDir, "distro")); string(got) != "v1.37.2+distro1" {
		t.Errorf("dist/distro = %q", got)
	}
	if _, ok := res.(pipeline.Done); !ok {
		t.Errorf("result %#v", res)
	}
}

func TestBuildFailureSaysWhatWasBuilt(t *testing.T) {
	cause := errors.New("exit status 1")
	c := &pipeline.Context{Version: pipelinetest.Version(t, "v1.37.2+distro1")}
	_, err := Step{Build: func(context.Context, *pipeline.Context) error { return cause }}.Run(context.Background(), c)
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "v1.37.2+distro1") {
		t.Fatalf("err = %v", err)
	}
}

func TestReuse(t *testing.T) {
	res, err := Step{Reuse: true}.Run(context.Background(), &pipeline.Context{DistDir: "dist"})
	if s, ok := res.(pipeline.Skipped); err != nil || !ok || !strings.Contains(s.Reason, "reusing") {
		t.Fatalf("dry run: result %#v, err %v", res, err)
	}
	if _, err := (Step{Reuse: true}).Run(context.Background(), &pipeline.Context{Publish: true}); err == nil {
		t.Fatal("a publishing run reused an earlier build")
	}
	if _, err := (Step{}).Run(context.Background(), &pipeline.Context{}); err == nil {
		t.Fatal("no build configured, yet no error")
	}
}
