package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	gh "github.com/google/go-github/v84/github"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/steps/checksums"
)

// maxSums bounds the checksum file read from anywhere: a few lines per asset.
const maxSums = 1 << 20

// LocalFile is a checksum file on disk, for a release that is not on GitHub (or to check a
// copy someone handed over).
type LocalFile string

var _ Sums = LocalFile("")

// Name implements Sums.
func (f LocalFile) Name(string) string { return string(f) }

// Sums implements Sums.
func (f LocalFile) Sums(context.Context, string) ([]byte, error) {
	fh, err := os.Open(string(f))
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return readBounded(fh, string(f))
}

// GitHub reads the checksum file of a published release through go-github. The token may
// be empty: a public repository's releases need none (GitHub then allows fewer requests).
type GitHub struct {
	// Owner, Repo, Token, APIURL and UploadURL as for publishing; HTTPClient as well.
	Options github.Options
}

var _ Sums = GitHub{}

// Name implements Sums.
func (g GitHub) Name(tag string) string {
	where := "github.com"
	if g.Options.APIURL != "" {
		where = g.Options.APIURL
	}
	return fmt.Sprintf("%s of release %s of %s/%s on %s", checksums.File, tag, g.Options.Owner, g.Options.Repo, where)
}

// Sums implements Sums. Only a published release is read: GitHub does not return drafts
// by tag, and a draft is not a release anybody downloaded.
func (g GitHub) Sums(ctx context.Context, tag string) ([]byte, error) {
	o := g.Options
	if o.Owner == "" || o.Repo == "" {
		return nil, fmt.Errorf("repository owner and name are required (got %q/%q)", o.Owner, o.Repo)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	c := gh.NewClient(hc)
	if o.Token != "" {
		c = c.WithAuthToken(o.Token)
	}
	if o.APIURL != "" {
		upload := o.UploadURL
		if upload == "" {
			upload = o.APIURL
		}
		var err error
		if c, err = c.WithEnterpriseURLs(o.APIURL, upload); err != nil {
			return nil, fmt.Errorf("enterprise URLs %q, %q: %w", o.APIURL, upload, err)
		}
	}
	repo := o.Owner + "/" + o.Repo
	rel, resp, err := c.Repositories.GetReleaseByTag(ctx, o.Owner, o.Repo, tag)
	if err != nil {
		return nil, explain(fmt.Sprintf("looking up release %s on %s", tag, repo), resp, err)
	}
	var id int64
	opts := &gh.ListOptions{PerPage: 100}
	for id == 0 {
		page, resp, err := c.Repositories.ListReleaseAssets(ctx, o.Owner, o.Repo, rel.GetID(), opts)
		if err != nil {
			return nil, explain(fmt.Sprintf("listing assets of release %s on %s", tag, repo), resp, err)
		}
		for _, a := range page {
			if a.GetName() == checksums.File {
				id = a.GetID()
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if id == 0 {
		return nil, fmt.Errorf("release %s on %s has no asset %s", tag, repo, checksums.File)
	}
	// The download redirects to a storage host that must not see the token.
	storage := &http.Client{Transport: hc.Transport, Timeout: hc.Timeout}
	rc, _, err := c.Repositories.DownloadReleaseAsset(ctx, o.Owner, o.Repo, id, storage)
	if err != nil {
		return nil, explain(fmt.Sprintf("downloading %s of release %s on %s", checksums.File, tag, repo), nil, err)
	}
	defer rc.Close()
	return readBounded(rc, checksums.File)
}

// explain turns GitHub's refusals into something a person can act on.
func explain(op string, resp *gh.Response, err error) error {
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		resp = &gh.Response{Response: er.Response}
	}
	if resp != nil {
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("%s: %w: check GITHUB_TOKEN", op, github.ErrAuthentication)
		case http.StatusNotFound:
			return fmt.Errorf("%s: not found (a draft is not a published release; a private repository answers 404 to a missing or weak token): %w", op, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func readBounded(r io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSums+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if len(data) > maxSums {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a checksum file", what, maxSums)
	}
	return data, nil
}
