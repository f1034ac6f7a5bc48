package githubfake

import (
	"slices"
	"time"
)

type repoState struct {
	owner, name string
	push        bool
	releases    []*releaseState // in creation order
	pulls       []*pullState
	nextNumber  int // issues and pull requests share one sequence, as on GitHub
}

type releaseState struct {
	id                         int64
	tag, commitish, name, body string
	draft, prerelease          bool
	createdAt, publishedAt     time.Time
	assets                     []*assetState
}

type assetState struct {
	id                       int64
	name, label, contentType string
	state                    string // "uploaded", or "starter" for an interrupted upload
	data                     []byte
	createdAt                time.Time
	signature                string // guards the short-lived storage URL
	release                  *releaseState
	repo                     *repoState
}

type pullState struct {
	number                  int
	title, body, head, base string
	state                   string
	labels                  []string
	comments                []commentState
	createdAt               time.Time
	closedAt, mergedAt      time.Time // zero while open, and while not merged
}

type commentState struct {
	id        int64
	body      string
	createdAt time.Time
}

// Release is a snapshot of one release, for test assertions.
type Release struct {
	ID          int64
	Tag         string
	Commitish   string
	Name        string
	Body        string
	Draft       bool
	Prerelease  bool
	PublishedAt time.Time // zero while a draft
	Assets      []Asset
}

// Asset is a snapshot of one release asset with its bytes.
type Asset struct {
	ID          int64
	Name        string
	Label       string
	ContentType string
	State       string
	Data        []byte
}

// PullRequest is a snapshot of one pull request.
type PullRequest struct {
	Number int
	Title  string
	Body   string
	Head   string // "owner:branch"
	Base   string
	State  string
	Merged bool
	Labels []string
	// Comments are the bodies of its conversation's comments, oldest first.
	Comments []string
}

// Releases returns the releases of owner/repo in creation order (nil for an unknown repository).
func (s *Server) Releases(owner, repo string) []Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[owner+"/"+repo]
	if r == nil {
		return nil
	}
	var out []Release
	for _, rel := range r.releases {
		snap := Release{
			ID: rel.id, Tag: rel.tag, Commitish: rel.commitish, Name: rel.name, Body: rel.body,
			Draft: rel.draft, Prerelease: rel.prerelease, PublishedAt: rel.publishedAt,
		}
		for _, a := range rel.assets {
			snap.Assets = append(snap.Assets, Asset{
				ID: a.id, Name: a.name, Label: a.label, ContentType: a.contentType, State: a.state,
				Data: slices.Clone(a.data),
			})
		}
		out = append(out, snap)
	}
	return out
}

// Release returns the release of owner/repo tagged tag, draft or not.
func (s *Server) Release(owner, repo, tag string) (Release, bool) {
	for _, rel := range s.Releases(owner, repo) {
		if rel.Tag == tag {
			return rel, true
		}
	}
	return Release{}, false
}

// PullRequests returns the pull requests of owner/repo in creation order.
func (s *Server) PullRequests(owner, repo string) []PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[owner+"/"+repo]
	if r == nil {
		return nil
	}
	var out []PullRequest
	for _, p := range r.pulls {
		snap := PullRequest{
			Number: p.number, Title: p.title, Body: p.body, Head: p.head, Base: p.base,
			State: p.state, Merged: !p.mergedAt.IsZero(), Labels: slices.Clone(p.labels),
		}
		for _, c := range p.comments {
			snap.Comments = append(snap.Comments, c.body)
		}
		out = append(out, snap)
	}
	return out
}
