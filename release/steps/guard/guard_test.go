package guard

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

func passing(name string, ran *[]string) Check {
	return Check{Name: name, Run: func(context.Context) error { *ran = append(*ran, name); return nil }}
}

func TestTreeCleanRecordsCommitAndRunsEveryCheck(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	// Ignored output (dist/, build/) is not dirt.
	repo.Write("dist/distro", "binary")
	c := repo.Context()
	var ran []string
	res, err := Tree{Checks: []Check{passing("patches:check", &ran), passing("strip:audit", &ran), passing("upstream:verify", &ran), passing("unit tests", &ran)}}.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ran, ","); got != "patches:check,strip:audit,upstream:verify,unit tests" {
		t.Errorf("ran %s", got)
	}
	if want := repo.Git("rev-parse", "HEAD"); c.Commit != want {
		t.Errorf("commit %q, want HEAD %q", c.Commit, want)
	}
	if d, ok := res.(pipeline.Done); !ok || !strings.Contains(d.Detail, "upstream:verify") {
		t.Errorf("result %#v", res)
	}
}

func TestTreeRefusesDirtyTree(t *testing.T) {
	for name, dirty := range map[string]func(r *pipelinetest.Repo){
		"modified":  func(r *pipelinetest.Repo) { r.Write("go.mod", "module changed\n") },
		"untracked": func(r *pipelinetest.Repo) { r.Write("notes.txt", "scratch") },
		"staged": func(r *pipelinetest.Repo) {
			r.Write("new.go", "package x\n")
			r.Git("add", "new.go")
		},
	} {
		t.Run(name, func(t *testing.T) {
			repo := pipelinetest.NewRepo(t)
			dirty(repo)
			ran := false
			_, err := Tree{Checks: []Check{{Name: "unit tests", Run: func(context.Context) error { ran = true; return nil }}}}.Run(context.Background(), repo.Context())
			if err == nil || !strings.Contains(err.Error(), "dirty working tree") {
				t.Fatalf("err = %v, want a dirty-tree refusal", err)
			}
			if ran {
				t.Error("checks ran on a dirty tree")
			}
		})
	}
}

func TestTreeNamesTheFailingCheckAndStops(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	var ran []string
	cause := errors.New("the binary links 2 denied packages")
	_, err := Tree{Checks: []Check{
		passing("patches:check", &ran),
		{Name: "strip:audit", Run: func(context.Context) error { return cause }},
		passing("upstream:verify", &ran),
	}}.Run(context.Background(), repo.Context())
	if FailedCheck(err) != "strip:audit" || !errors.Is(err, cause) {
		t.Fatalf("err = %v, want strip:audit named and the cause wrapped", err)
	}
	if !strings.Contains(err.Error(), "strip:audit failed") || !strings.Contains(err.Error(), "denied packages") {
		t.Errorf("message %q does not say which check failed and why", err)
	}
	if strings.Join(ran, ",") != "patches:check" {
		t.Errorf("ran %v after the failure", ran)
	}
}

func TestTreeOutsideARepositoryIsAnError(t *testing.T) {
	c := &pipeline.Context{RepoDir: filepath.Join(t.TempDir(), "missing")}
	if err := os.MkdirAll(c.RepoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := (Tree{}).Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "git status") {
		t.Fatalf("err = %v, want git's refusal quoted", err)
	}
}

func TestTreeSkipsChecksOnlyInADryRun(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	ran := false
	g := Tree{Checks: []Check{{Name: "unit tests", Run: func(context.Context) error { ran = true; return nil }}}, SkipChecks: "asked to"}
	res, err := g.Run(context.Background(), repo.Context())
	if d, ok := res.(pipeline.Done); err != nil || !ok || !strings.Contains(d.Detail, "checks not run: asked to") || ran {
		t.Fatalf("dry run: %#v, %v, ran=%v", res, err, ran)
	}
	c := repo.Context()
	c.Publish = true
	if _, err := g.Run(context.Background(), c); err == nil || ran {
		t.Fatalf("publishing without checks: err=%v ran=%v", err, ran)
	}
}
