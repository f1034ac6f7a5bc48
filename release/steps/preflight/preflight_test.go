package preflight

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/githubfake"
	"github.com/distro-io/distro/release/pipeline"
)

func client(t *testing.T, fake *githubfake.Server, token string) *github.Client {
	t.Helper()
	c, err := github.NewClient(github.Options{Owner: "distro-io", Repo: "distro", Token: token, APIURL: fake.APIURL(), UploadURL: fake.UploadURL()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPreflight(t *testing.T) {
	fake := githubfake.New(t, "good")
	fake.AddRepo("distro-io", "distro")
	readOnly := githubfake.New(t, "good")
	readOnly.AddReadOnlyRepo("distro-io", "distro")

	for _, tc := range []struct {
		name    string
		c       *pipeline.Context
		skipped bool
		wantErr string
	}{
		{name: "dry run", c: &pipeline.Context{}, skipped: true},
		{name: "no token", c: &pipeline.Context{Publish: true}, wantErr: "GITHUB_TOKEN"},
		{name: "bad token", c: &pipeline.Context{Publish: true, Publisher: client(t, fake, "bad")}, wantErr: "check the token"},
		{name: "read only", c: &pipeline.Context{Publish: true, Publisher: client(t, readOnly, "good")}, wantErr: "not push"},
		{name: "can push", c: &pipeline.Context{Publish: true, Publisher: client(t, fake, "good")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Step{}.Run(context.Background(), tc.c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, skipped := res.(pipeline.Skipped)
			if skipped != tc.skipped {
				t.Fatalf("result %#v, skipped want %v", res, tc.skipped)
			}
		})
	}
	if _, err := (Step{}).Run(context.Background(), &pipeline.Context{Publish: true}); !errors.Is(err, ErrNoPublisher) {
		t.Errorf("err = %v, want ErrNoPublisher", err)
	}
}
