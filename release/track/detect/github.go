package detect

import (
	"context"
	"fmt"
	"net/http"
	"time"

	gh "github.com/google/go-github/v84/github"
)

// GitHubOptions say which repository's releases to list, and how to reach GitHub.
type GitHubOptions struct {
	// Owner and Repo default to kubernetes/kubernetes.
	Owner, Repo string
	// Token is optional: public releases can be read without one, at a lower rate limit.
	Token string
	// APIURL and UploadURL point at a GitHub Enterprise Server or a test server; both
	// empty means github.com.
	APIURL, UploadURL string
	HTTPClient        *http.Client
	// MaxPages bounds the listing (100 releases a page); 0 means 10, enough for several
	// years of Kubernetes releases, which GitHub lists newest first.
	MaxPages int
}

// GitHubReleases lists a repository's published releases through go-github.
type GitHubReleases struct {
	gh          *gh.Client
	owner, repo string
	maxPages    int
}

var _ Source = (*GitHubReleases)(nil)

// NewGitHubReleases returns a source for the repository's releases.
func NewGitHubReleases(o GitHubOptions) (*GitHubReleases, error) {
	if o.Owner == "" && o.Repo == "" {
		o.Owner, o.Repo = "kubernetes", "kubernetes"
	}
	if o.Owner == "" || o.Repo == "" {
		return nil, fmt.Errorf("github releases: owner and repository are both required (got %q/%q)", o.Owner, o.Repo)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	c := gh.NewClient(hc)
	if o.Token != "" {
		c = c.WithAuthToken(o.Token)
	}
	if o.APIURL != "" || o.UploadURL != "" {
		var err error
		if c, err = c.WithEnterpriseURLs(o.APIURL, o.UploadURL); err != nil {
			return nil, fmt.Errorf("github releases: URLs %q, %q: %w", o.APIURL, o.UploadURL, err)
		}
	}
	pages := o.MaxPages
	if pages <= 0 {
		pages = 10
	}
	return &GitHubReleases{gh: c, owner: o.Owner, repo: o.Repo, maxPages: pages}, nil
}

// Name implements Source.
func (g *GitHubReleases) Name() string { return "GitHub releases of " + g.owner + "/" + g.repo }

// Releases implements Source. Drafts are not releases yet and are left out.
func (g *GitHubReleases) Releases(ctx context.Context) ([]Release, error) {
	var out []Release
	opts := &gh.ListOptions{PerPage: 100}
	for page := 0; page < g.maxPages; page++ {
		rels, resp, err := g.gh.Repositories.ListReleases(ctx, g.owner, g.repo, opts)
		if err != nil {
			return nil, fmt.Errorf("listing releases of %s/%s: %w", g.owner, g.repo, err)
		}
		for _, r := range rels {
			if r.GetDraft() {
				continue
			}
			out = append(out, Release{Version: r.GetTagName(), Prerelease: r.GetPrerelease()})
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}
