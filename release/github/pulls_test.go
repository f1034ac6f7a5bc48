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

func TestPullRequestCloseReopenCommentAndLabels(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.client.CreatePullRequest(ctx, NewPullRequest{Head: "upstream/v1.37.3", Base: "main", Title: "v1.37.3"})
	if err != nil {
		t.Fatal(err)
	}
	if closed, err := f.client.SetPullRequestState(ctx, first.Number, "closed"); err != nil || closed.State != "closed" || closed.Merged {
		t.Fatalf("close: %+v, %v", closed, err)
	}
	second, err := f.client.CreatePullRequest(ctx, NewPullRequest{Head: "upstream/v1.37.3", Base: "main", Title: "v1.37.3 again"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.client.CreatePullRequest(ctx, NewPullRequest{Head: "upstream/v1.37.4", Base: "release-1.37", Title: "v1.37.4"})
	if err != nil {
		t.Fatal(err)
	}

	from, err := f.client.PullRequestsFrom(ctx, "upstream/v1.37.3")
	if err != nil || len(from) != 2 || from[0].Number != second.Number || from[1].Number != first.Number || from[1].State != "closed" {
		t.Errorf("from the branch, newest first: %+v, %v", from, err)
	}
	into, err := f.client.OpenPullRequestsInto(ctx, "main")
	if err != nil || len(into) != 1 || into[0].Number != second.Number {
		t.Errorf("open into main: %+v, %v", into, err)
	}
	if into, _ := f.client.OpenPullRequestsInto(ctx, "release-1.37"); len(into) != 1 || into[0].Number != other.Number {
		t.Errorf("open into release-1.37: %+v", into)
	}

	// GitHub refuses to reopen beside another open pull request of the branch.
	if _, err := f.client.SetPullRequestState(ctx, first.Number, "open"); err == nil || !strings.Contains(err.Error(), "reopening pull request") {
		t.Errorf("reopen beside an open one: %v", err)
	}
	if _, err := f.client.SetPullRequestState(ctx, second.Number, "merged"); err == nil {
		t.Error("a state other than open and closed was sent")
	}

	if err := f.client.Comment(ctx, second.Number, "Superseded by #3."); err != nil {
		t.Fatal(err)
	}
	if err := f.client.Comment(ctx, second.Number, ""); err == nil {
		t.Error("an empty comment was sent")
	}
	if err := f.client.AddLabels(ctx, second.Number, "needs-human", "upstream"); err != nil {
		t.Fatal(err)
	}
	if err := f.client.RemoveLabel(ctx, second.Number, "needs-human"); err != nil {
		t.Fatal(err)
	}
	if err := f.client.RemoveLabel(ctx, second.Number, "needs-human"); err != nil {
		t.Errorf("removing a label that is not there: %v", err)
	}
	if err := f.client.RemoveLabel(ctx, 999, "needs-human"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("removing a label from a missing pull request: %v", err)
	}
	got := f.fake.PullRequests(owner, repo)[1]
	if !slices.Equal(got.Labels, []string{"upstream"}) || !slices.Equal(got.Comments, []string{"Superseded by #3."}) {
		t.Errorf("stored: %+v", got)
	}

	if _, _, err := f.client.gh.PullRequests.Merge(ctx, owner, repo, second.Number, "", nil); err != nil {
		t.Fatal(err)
	}
	if from, _ := f.client.PullRequestsFrom(ctx, "upstream/v1.37.3"); len(from) != 2 || !from[0].Merged || from[0].State != "closed" || from[1].Merged {
		t.Errorf("after merging: %+v", from)
	}
}
