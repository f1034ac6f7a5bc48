// Package github publishes distro releases and opens pull requests on GitHub (or a
// GitHub Enterprise Server) through two narrow interfaces, Publisher and PullRequests,
// both implemented by Client on top of go-github. Tests run against
// release/githubfake.
package github

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v84/github"
)

// Options say which repository to talk to and how.
type Options struct {
	Owner, Repo string
	Token       string
	// APIURL and UploadURL point at a GitHub Enterprise Server (or a test server); both
	// empty means github.com. go-github appends /api/v3/ and /api/uploads/ when the
	// URLs lack them.
	APIURL, UploadURL string
	// HTTPClient carries the requests; nil means a client with a generous timeout.
	HTTPClient *http.Client
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.Owner == "" || o.Repo == "" {
		errs = append(errs, fmt.Errorf("repository owner and name are required (got %q/%q)", o.Owner, o.Repo))
	}
	if strings.Contains(o.Owner, "/") || strings.Contains(o.Repo, "/") {
		errs = append(errs, fmt.Errorf("repository owner and name must not contain \"/\" (got %q/%q)", o.Owner, o.Repo))
	}
	if o.Token == "" {
		errs = append(errs, errors.New("a GitHub token is required"))
	}
	if (o.APIURL == "") != (o.UploadURL == "") {
		errs = append(errs, fmt.Errorf("API URL %q and upload URL %q must be given together", o.APIURL, o.UploadURL))
	}
	return errors.Join(errs...)
}

// Client talks to one repository. It implements Publisher and PullRequests.
type Client struct {
	gh          *gh.Client
	owner, repo string
	// storage downloads the short-lived URLs asset downloads redirect to; it sends no
	// GitHub credentials, which those URLs do not want.
	storage *http.Client
}

var (
	_ Publisher    = (*Client)(nil)
	_ PullRequests = (*Client)(nil)
)

// NewClient validates the options and returns a client for the repository.
func NewClient(o Options) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("github client: %w", err)
	}
	hc := o.HTTPClient
	if hc == nil {
		// Uploads of a few hundred MiB need minutes, not the infinite wait of http.DefaultClient.
		hc = &http.Client{Timeout: 30 * time.Minute}
	}
	c := gh.NewClient(hc).WithAuthToken(o.Token)
	if o.APIURL != "" {
		var err error
		if c, err = c.WithEnterpriseURLs(o.APIURL, o.UploadURL); err != nil {
			return nil, fmt.Errorf("github client: enterprise URLs %q, %q: %w", o.APIURL, o.UploadURL, err)
		}
	}
	return &Client{
		gh:      c,
		owner:   o.Owner,
		repo:    o.Repo,
		storage: &http.Client{Transport: hc.Transport, Timeout: hc.Timeout},
	}, nil
}

// Repository returns "owner/name".
func (c *Client) Repository() string { return c.owner + "/" + c.repo }

// ErrAuthentication marks a request GitHub refused for bad credentials.
var ErrAuthentication = errors.New("GitHub authentication failed")

// apiError names the operation that failed and turns GitHub's answer into something a
// person can act on.
func (c *Client) apiError(op string, err error) error {
	var resp *gh.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil {
		switch resp.Response.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("%s on %s: %w (%s): check the token", op, c.Repository(), ErrAuthentication, resp.Message)
		case http.StatusNotFound:
			return fmt.Errorf("%s on %s: not found (GitHub answers 404 also when the token may not see the repository): %w", op, c.Repository(), err)
		}
	}
	return fmt.Errorf("%s on %s: %w", op, c.Repository(), err)
}

// hasErrorCode reports whether GitHub refused the request with a validation error of this code.
func hasErrorCode(err error, code string) bool {
	var resp *gh.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	for _, e := range resp.Errors {
		if e.Code == code {
			return true
		}
	}
	return false
}
