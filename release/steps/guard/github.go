package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v84/github"

	"github.com/distro-io/distro/release/github"
)

// GitHubReleases implements Releases on the GitHub REST API. It only reads: the
// Publisher interface has no way to look a release up without creating a draft.
type GitHubReleases struct {
	gh          *gh.Client
	http        *http.Client
	owner, repo string
}

// NewGitHubReleases reads releases of o.Owner/o.Repo. The token may be empty: published
// releases of a public repository need none.
func NewGitHubReleases(o github.Options) (*GitHubReleases, error) {
	if o.Owner == "" || o.Repo == "" {
		return nil, fmt.Errorf("repository owner and name are required (got %q/%q)", o.Owner, o.Repo)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Minute}
	}
	c := gh.NewClient(hc)
	if o.Token != "" {
		c = c.WithAuthToken(o.Token)
	}
	if o.APIURL != "" {
		var err error
		if c, err = c.WithEnterpriseURLs(o.APIURL, o.UploadURL); err != nil {
			return nil, fmt.Errorf("enterprise URLs %q, %q: %w", o.APIURL, o.UploadURL, err)
		}
	}
	return &GitHubReleases{gh: c, http: hc, owner: o.Owner, repo: o.Repo}, nil
}

// Published implements Releases. GitHub returns only published releases by tag, which
// is exactly the question. Assets without a digest (older GitHub Enterprise) are
// downloaded and hashed.
func (g *GitHubReleases) Published(ctx context.Context, tag string) (*PublishedRelease, error) {
	rel, resp, err := g.gh.Repositories.GetReleaseByTag(ctx, g.owner, g.repo, tag)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("%s/%s: %w", g.owner, g.repo, err)
	}
	out := &PublishedRelease{Tag: rel.GetTagName(), URL: rel.GetHTMLURL()}
	// The release lists at most a page of assets; list them all.
	opts := &gh.ListOptions{PerPage: 100}
	for {
		page, resp, err := g.gh.Repositories.ListReleaseAssets(ctx, g.owner, g.repo, rel.GetID(), opts)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: listing assets of %s: %w", g.owner, g.repo, tag, err)
		}
		for _, a := range page {
			sum, ok := strings.CutPrefix(a.GetDigest(), "sha256:")
			if !ok {
				if sum, err = g.download(ctx, a.GetBrowserDownloadURL()); err != nil {
					return nil, fmt.Errorf("%s/%s: asset %s of %s: %w", g.owner, g.repo, a.GetName(), tag, err)
				}
			}
			out.Assets = append(out.Assets, PublishedAsset{Name: a.GetName(), Size: int64(a.GetSize()), SHA256: sum})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

func (g *GitHubReleases) download(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("downloading %s: %s", url, resp.Status)
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
