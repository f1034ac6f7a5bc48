package guard

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/githubfake"
	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/pipeline/pipelinetest"
)

const token = "test-token"

// published makes a fake with owner/repo holding a release of tag with the given assets,
// published or left as a draft.
func published(t *testing.T, tag string, assets map[string]string, draft bool) (*githubfake.Server, github.Options) {
	t.Helper()
	fake := githubfake.New(t, token)
	fake.AddRepo("distro-io", "distro")
	opts := github.Options{Owner: "distro-io", Repo: "distro", Token: token, APIURL: fake.APIURL(), UploadURL: fake.UploadURL()}
	client, err := github.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var plan github.Plan
	plan.Release = github.Release{Tag: tag, Name: tag}
	plan.KeepDraft = draft
	for name, content := range assets {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		plan.Assets = append(plan.Assets, github.Asset{Name: name, Path: p})
	}
	if _, err := github.PublishRelease(context.Background(), client, plan); err != nil {
		t.Fatal(err)
	}
	return fake, opts
}

func localArtifacts(t *testing.T, c *pipeline.Context, assets map[string]string) {
	t.Helper()
	for name, content := range assets {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		c.Add(pipeline.Artifact{Name: name, Path: p})
	}
}

func TestExisting(t *testing.T) {
	const tag = "v1.37.2+distro1"
	same := map[string]string{"distro": "binary v1", "sha256sum-amd64.txt": "sums"}
	for _, tc := range []struct {
		name      string
		remote    map[string]string // nil: no release at all
		draft     bool
		local     map[string]string
		wantErr   []string
		wantMatch string
	}{
		{name: "not released", local: same, wantMatch: "not published yet"},
		{name: "draft only", remote: map[string]string{"distro": "other"}, draft: true, local: same, wantMatch: "not published yet"},
		{name: "published identical", remote: same, local: same, wantMatch: "identical"},
		{
			name:   "published different",
			remote: map[string]string{"distro": "binary v0", "sha256sum-amd64.txt": "sums", "old.txt": "x"},
			local:  map[string]string{"distro": "binary v1", "sha256sum-amd64.txt": "sums", "sbom.json": "{}"},
			wantErr: []string{"refusing to release " + tag, "already published", "distro differs",
				"sbom.json is not on the release", "old.txt is on the release but not made by this run"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts github.Options
			if tc.remote != nil {
				_, opts = published(t, tag, tc.remote, tc.draft)
			} else {
				fake := githubfake.New(t, token)
				fake.AddRepo("distro-io", "distro")
				opts = github.Options{Owner: "distro-io", Repo: "distro", Token: token, APIURL: fake.APIURL(), UploadURL: fake.UploadURL()}
			}
			releases, err := NewGitHubReleases(opts)
			if err != nil {
				t.Fatal(err)
			}
			c := &pipeline.Context{Version: pipelinetest.Version(t, tag)}
			localArtifacts(t, c, tc.local)
			res, err := Existing{Releases: releases}.Run(context.Background(), c)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, result %#v", res)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := res.(pipeline.Done); !ok || !strings.Contains(d.Detail, tc.wantMatch) {
				t.Errorf("result %#v, want Done mentioning %q", res, tc.wantMatch)
			}
		})
	}
}

func TestExistingWithoutRepositorySkipsSayingWhy(t *testing.T) {
	c := &pipeline.Context{Version: pipelinetest.Version(t, "v1.37.2+distro1")}
	res, err := Existing{}.Run(context.Background(), c)
	if s, ok := res.(pipeline.Skipped); err != nil || !ok || !strings.Contains(s.Reason, "no GitHub repository") {
		t.Fatalf("result %#v, err %v", res, err)
	}
}

func TestExistingBadTokenIsAnError(t *testing.T) {
	_, opts := published(t, "v1.37.2+distro1", map[string]string{"distro": "x"}, false)
	opts.Token = "wrong"
	releases, err := NewGitHubReleases(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &pipeline.Context{Version: pipelinetest.Version(t, "v1.37.2+distro1")}
	if _, err := (Existing{Releases: releases}).Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want GitHub's 401 passed on", err)
	}
}
