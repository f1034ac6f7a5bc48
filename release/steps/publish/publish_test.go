package publish

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/githubfake"
	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/pipeline/pipelinetest"
)

const token = "secret"

func releaseContext(t *testing.T, version string) *pipeline.Context {
	t.Helper()
	c := &pipeline.Context{
		DistDir: t.TempDir(),
		Version: pipelinetest.Version(t, version),
		Commit:  "0123456789abcdef0123456789abcdef01234567",
		Notes:   "distro " + version + "\n",
	}
	// A fixed order: the resume test breaks the upload of the second artifact.
	for _, a := range []struct{ name, content string }{{"distro", "binary"}, {"sha256sum-amd64.txt", "sums\n"}} {
		p := filepath.Join(c.DistDir, a.name)
		if err := os.WriteFile(p, []byte(a.content), 0o644); err != nil {
			t.Fatal(err)
		}
		c.Add(pipeline.Artifact{Name: a.name, Path: p})
	}
	return c
}

func fakeClient(t *testing.T) (*githubfake.Server, *github.Client) {
	t.Helper()
	fake := githubfake.New(t, token)
	fake.AddRepo("distro-io", "distro")
	client, err := github.NewClient(github.Options{Owner: "distro-io", Repo: "distro", Token: token, APIURL: fake.APIURL(), UploadURL: fake.UploadURL()})
	if err != nil {
		t.Fatal(err)
	}
	return fake, client
}

func TestDryRunPrintsThePlanAndTouchesNothing(t *testing.T) {
	fake, client := fakeClient(t)
	c := releaseContext(t, "v1.37.2+distro1")
	c.Publisher = client
	var out bytes.Buffer
	c.Out = &out
	res, err := Step{}.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := res.(pipeline.Skipped); !ok || !strings.Contains(s.Reason, "dry run") {
		t.Errorf("result %#v", res)
	}
	for _, want := range []string{
		`would create a draft release "v1.37.2+distro1" tagged v1.37.2+distro1 at 0123456789ab`,
		"would upload distro", "9a3a45d01531a20e89ac6ae10b0b0beb0492acd7216a368aa062d1a5fecaf9cd",
		"would upload sha256sum-amd64.txt", "would then publish it",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("a dry run sent %d requests to GitHub", n)
	}
}

func TestPublishCreatesTheReleaseAndResumes(t *testing.T) {
	fake, client := fakeClient(t)
	c := releaseContext(t, "v1.37.2-rc1+distro1")
	c.Publish, c.Publisher = true, client

	// The first attempt breaks while uploading the second asset.
	fake.FailNextUpload("sha256sum-amd64.txt")
	if _, err := (Step{}).Run(context.Background(), c); err == nil {
		t.Fatal("a broken upload went unnoticed")
	}
	if rel, ok := fake.Release("distro-io", "distro", "v1.37.2-rc1+distro1"); !ok || !rel.Draft {
		t.Fatalf("after the failure: %+v, want a draft left", rel)
	}

	res, err := Step{}.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := res.(pipeline.Done); !ok || !strings.Contains(d.Detail, "published v1.37.2-rc1+distro1: 1 assets uploaded, 1 already present") {
		t.Errorf("result %#v", res)
	}
	rel, ok := fake.Release("distro-io", "distro", "v1.37.2-rc1+distro1")
	if !ok || rel.Draft || !rel.Prerelease || rel.Body != c.Notes || rel.Commitish != c.Commit {
		t.Fatalf("release %+v", rel)
	}
	if len(rel.Assets) != 2 || string(rel.Assets[0].Data) != "binary" {
		t.Errorf("assets %+v", rel.Assets)
	}
	if n := len(fake.Releases("distro-io", "distro")); n != 1 {
		t.Errorf("%d releases, want the draft reused", n)
	}
}

func TestPublishNeedsAPublisherAndTheEarlierSteps(t *testing.T) {
	c := releaseContext(t, "v1.37.2+distro1")
	c.Publish = true
	if _, err := (Step{}).Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "GITHUB_TOKEN") {
		t.Errorf("no publisher: %v", err)
	}
	c.Notes = ""
	if _, err := (Step{}).Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "notes step") {
		t.Errorf("no notes: %v", err)
	}
}

func TestPublishBadToken(t *testing.T) {
	fake, _ := fakeClient(t)
	bad, err := github.NewClient(github.Options{Owner: "distro-io", Repo: "distro", Token: "wrong", APIURL: fake.APIURL(), UploadURL: fake.UploadURL()})
	if err != nil {
		t.Fatal(err)
	}
	c := releaseContext(t, "v1.37.2+distro1")
	c.Publish, c.Publisher = true, bad
	if _, err := (Step{}).Run(context.Background(), c); !errors.Is(err, github.ErrAuthentication) {
		t.Fatalf("err = %v, want ErrAuthentication", err)
	}
}

func TestKeepDraft(t *testing.T) {
	fake, client := fakeClient(t)
	c := releaseContext(t, "v1.37.2+distro1")
	c.Publish, c.Publisher = true, client
	res, err := Step{KeepDraft: true}.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if rel, _ := fake.Release("distro-io", "distro", "v1.37.2+distro1"); !rel.Draft {
		t.Error("the release was published")
	}
	if d := res.(pipeline.Done); !strings.Contains(d.Detail, "kept as a draft") {
		t.Errorf("detail %q", d.Detail)
	}
}
