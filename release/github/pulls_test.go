package github

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestPullRequestLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	if _, found, err := f.client.FindOpenPullRequest(ctx, "bump/v1.37.3"); err != nil || found {
		t.Fatalf("before creating: found %v, error %v", found, err)
	}
	pr, err := f.client.CreatePullRequest(ctx, NewPullRequest{Head: "bump/v1.37.3", Base: "main", Title: "Kubernetes v1.37.3", Body: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Number == 0 || pr.Head != owner+":bump/v1.37.3" || pr.Base != "main" || pr.State != "open" || pr.HTMLURL == "" {
		t.Errorf("created %+v", pr)
	}

	// A second pull request from the same branch is GitHub's 422, reported as such.
	if _, err := f.client.CreatePullRequest(ctx, NewPullRequest{Head: "bump/v1.37.3", Base: "main", Title: "again"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate: %v", err)
	}

	found, ok, err := f.client.FindOpenPullRequest(ctx, "bump/v1.37.3")
	if err != nil || !ok || found.Number != pr.Number {
		t.Fatalf("find: %+v, %v, %v", found, ok, err)
	}
	if _, ok, _ := f.client.FindOpenPullRequest(ctx, "bump/v1.37.4"); ok {
		t.Error("found a pull request for another branch")
	}

	updated, err := f.client.UpdatePullRequest(ctx, pr.Number, "Kubernetes v1.37.3 (rebuilt)", "second")
	if err != nil || updated.Title != "Kubernetes v1.37.3 (rebuilt)" || updated.Body != "second" {
		t.Errorf("update: %+v, %v", updated, err)
	}
	if err := f.client.AddLabels(ctx, pr.Number, "upstream", "automated"); err != nil {
		t.Fatal(err)
	}
	if err := f.client.AddLabels(ctx, pr.Number, "upstream"); err != nil {
		t.Fatal(err)
	}
	got := f.fake.PullRequests(owner, repo)
	if len(got) != 1 || got[0].Body != "second" || !slices.Equal(got[0].Labels, []string{"upstream", "automated"}) {
		t.Errorf("stored: %+v", got)
	}

	if err := f.client.AddLabels(ctx, 999, "x"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("label on a missing pull request: %v", err)
	}
	if _, err := f.client.CreatePullRequest(ctx, NewPullRequest{Base: "main"}); err == nil || !strings.Contains(err.Error(), "head, title required") {
		t.Errorf("incomplete request: %v", err)
	}
}
