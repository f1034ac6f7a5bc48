package github

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v84/github"
)

// PullRequests is what the upstream tracker needs: one pull request per head branch,
// opened once and updated as the branch moves on.
type PullRequests interface {
	CreatePullRequest(ctx context.Context, pr NewPullRequest) (PullRequest, error)
	// FindOpenPullRequest returns the open pull request from head, if there is one.
	FindOpenPullRequest(ctx context.Context, head string) (PullRequest, bool, error)
	UpdatePullRequest(ctx context.Context, number int, title, body string) (PullRequest, error)
	AddLabels(ctx context.Context, number int, labels ...string) error
}

// NewPullRequest asks to merge Head into Base. Head is a branch of the repository, or
// "owner:branch" for a fork.
type NewPullRequest struct {
	Head, Base  string
	Title, Body string
}

// PullRequest is a pull request as GitHub holds it.
type PullRequest struct {
	Number  int
	Title   string
	Body    string
	Head    string // "owner:branch"
	Base    string
	State   string
	HTMLURL string
	Labels  []string
}

// CreatePullRequest implements PullRequests.
func (c *Client) CreatePullRequest(ctx context.Context, pr NewPullRequest) (PullRequest, error) {
	var missing []string
	for _, f := range []struct{ name, value string }{{"head", pr.Head}, {"base", pr.Base}, {"title", pr.Title}} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return PullRequest{}, fmt.Errorf("pull request: %s required", strings.Join(missing, ", "))
	}
	created, _, err := c.gh.PullRequests.Create(ctx, c.owner, c.repo, &gh.NewPullRequest{
		Title: gh.Ptr(pr.Title), Head: gh.Ptr(pr.Head), Base: gh.Ptr(pr.Base), Body: gh.Ptr(pr.Body),
	})
	if err != nil {
		return PullRequest{}, c.apiError(fmt.Sprintf("opening pull request %s → %s", pr.Head, pr.Base), err)
	}
	return pullOf(created), nil
}

// FindOpenPullRequest implements PullRequests.
func (c *Client) FindOpenPullRequest(ctx context.Context, head string) (PullRequest, bool, error) {
	if head == "" {
		return PullRequest{}, false, errors.New("finding pull request: head branch is required")
	}
	if !strings.Contains(head, ":") {
		// GitHub filters by "owner:branch"; a bare branch name matches nothing.
		head = c.owner + ":" + head
	}
	opts := &gh.PullRequestListOptions{State: "open", Head: head, ListOptions: gh.ListOptions{PerPage: perPage}}
	prs, _, err := c.gh.PullRequests.List(ctx, c.owner, c.repo, opts)
	if err != nil {
		return PullRequest{}, false, c.apiError("finding pull request from "+head, err)
	}
	switch len(prs) {
	case 0:
		return PullRequest{}, false, nil
	case 1:
		return pullOf(prs[0]), true, nil
	default:
		return PullRequest{}, false, fmt.Errorf("finding pull request from %s on %s: %d are open; close all but one", head, c.Repository(), len(prs))
	}
}

// UpdatePullRequest implements PullRequests.
func (c *Client) UpdatePullRequest(ctx context.Context, number int, title, body string) (PullRequest, error) {
	if title == "" {
		return PullRequest{}, fmt.Errorf("updating pull request #%d: title is required", number)
	}
	edited, _, err := c.gh.PullRequests.Edit(ctx, c.owner, c.repo, number, &gh.PullRequest{Title: gh.Ptr(title), Body: gh.Ptr(body)})
	if err != nil {
		return PullRequest{}, c.apiError(fmt.Sprintf("updating pull request #%d", number), err)
	}
	return pullOf(edited), nil
}

// AddLabels implements PullRequests (pull requests are issues to GitHub's label API).
func (c *Client) AddLabels(ctx context.Context, number int, labels ...string) error {
	if len(labels) == 0 {
		return nil
	}
	if _, _, err := c.gh.Issues.AddLabelsToIssue(ctx, c.owner, c.repo, number, labels); err != nil {
		return c.apiError(fmt.Sprintf("labelling pull request #%d", number), err)
	}
	return nil
}

func pullOf(p *gh.PullRequest) PullRequest {
	out := PullRequest{
		Number: p.GetNumber(), Title: p.GetTitle(), Body: p.GetBody(),
		Head: p.GetHead().GetLabel(), Base: p.GetBase().GetRef(),
		State: p.GetState(), HTMLURL: p.GetHTMLURL(),
	}
	for _, l := range p.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out
}
