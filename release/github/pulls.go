package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v84/github"
)

// PullRequests is what the upstream tracker needs: one pull request per head branch,
// opened once and updated as the branch moves on, and closed when a newer one replaces it.
type PullRequests interface {
	CreatePullRequest(ctx context.Context, pr NewPullRequest) (PullRequest, error)
	// FindOpenPullRequest returns the open pull request from head, if there is one.
	FindOpenPullRequest(ctx context.Context, head string) (PullRequest, bool, error)
	// PullRequestsFrom lists every pull request from head, open, closed and merged,
	// newest first.
	PullRequestsFrom(ctx context.Context, head string) ([]PullRequest, error)
	// OpenPullRequestsInto lists the open pull requests into base, newest first.
	OpenPullRequestsInto(ctx context.Context, base string) ([]PullRequest, error)
	UpdatePullRequest(ctx context.Context, number int, title, body string) (PullRequest, error)
	// SetPullRequestState closes ("closed") or reopens ("open") a pull request.
	SetPullRequestState(ctx context.Context, number int, state string) (PullRequest, error)
	AddLabels(ctx context.Context, number int, labels ...string) error
	// RemoveLabel takes a label off; a label that is not there is no error.
	RemoveLabel(ctx context.Context, number int, label string) error
	// Comment adds a comment to the pull request's conversation.
	Comment(ctx context.Context, number int, body string) error
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
	State   string // "open" or "closed"
	Merged  bool   // closed by merging
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
	prs, err := c.listPulls(ctx, &gh.PullRequestListOptions{State: "open", Head: head}, "finding pull request from "+head)
	if err != nil {
		return PullRequest{}, false, err
	}
	switch len(prs) {
	case 0:
		return PullRequest{}, false, nil
	case 1:
		return prs[0], true, nil
	default:
		return PullRequest{}, false, fmt.Errorf("finding pull request from %s on %s: %d are open; close all but one", head, c.Repository(), len(prs))
	}
}

// PullRequestsFrom implements PullRequests.
func (c *Client) PullRequestsFrom(ctx context.Context, head string) ([]PullRequest, error) {
	if head == "" {
		return nil, errors.New("listing pull requests: head branch is required")
	}
	if !strings.Contains(head, ":") {
		head = c.owner + ":" + head
	}
	return c.listPulls(ctx, &gh.PullRequestListOptions{State: "all", Head: head}, "listing pull requests from "+head)
}

// OpenPullRequestsInto implements PullRequests.
func (c *Client) OpenPullRequestsInto(ctx context.Context, base string) ([]PullRequest, error) {
	if base == "" {
		return nil, errors.New("listing pull requests: base branch is required")
	}
	return c.listPulls(ctx, &gh.PullRequestListOptions{State: "open", Base: base}, "listing open pull requests into "+base)
}

// listPulls follows every page of a pull request listing, newest first.
func (c *Client) listPulls(ctx context.Context, opts *gh.PullRequestListOptions, op string) ([]PullRequest, error) {
	opts.Sort, opts.Direction = "created", "desc"
	opts.PerPage = perPage
	var out []PullRequest
	for {
		page, resp, err := c.gh.PullRequests.List(ctx, c.owner, c.repo, opts)
		if err != nil {
			return nil, c.apiError(op, err)
		}
		for _, p := range page {
			out = append(out, pullOf(p))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
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

// SetPullRequestState implements PullRequests.
func (c *Client) SetPullRequestState(ctx context.Context, number int, state string) (PullRequest, error) {
	if state != "open" && state != "closed" {
		return PullRequest{}, fmt.Errorf("pull request #%d: state %q is neither open nor closed", number, state)
	}
	edited, _, err := c.gh.PullRequests.Edit(ctx, c.owner, c.repo, number, &gh.PullRequest{State: gh.Ptr(state)})
	if err != nil {
		verb := map[string]string{"open": "reopening", "closed": "closing"}[state]
		return PullRequest{}, c.apiError(fmt.Sprintf("%s pull request #%d", verb, number), err)
	}
	return pullOf(edited), nil
}

// RemoveLabel implements PullRequests.
func (c *Client) RemoveLabel(ctx context.Context, number int, label string) error {
	resp, err := c.gh.Issues.RemoveLabelForIssue(ctx, c.owner, c.repo, number, label)
	if err != nil {
		// 404 is also GitHub's answer for a label that is not on the issue.
		var er *gh.ErrorResponse
		if resp != nil && resp.StatusCode == http.StatusNotFound && errors.As(err, &er) && er.Message == "Label does not exist" {
			return nil
		}
		return c.apiError(fmt.Sprintf("removing label %q from pull request #%d", label, number), err)
	}
	return nil
}

// Comment implements PullRequests (a pull request's conversation is its issue's).
func (c *Client) Comment(ctx context.Context, number int, body string) error {
	if body == "" {
		return fmt.Errorf("commenting on pull request #%d: the comment is empty", number)
	}
	if _, _, err := c.gh.Issues.CreateComment(ctx, c.owner, c.repo, number, &gh.IssueComment{Body: gh.Ptr(body)}); err != nil {
		return c.apiError(fmt.Sprintf("commenting on pull request #%d", number), err)
	}
	return nil
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
		State: p.GetState(), Merged: p.MergedAt != nil, HTMLURL: p.GetHTMLURL(),
	}
	for _, l := range p.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out
}
