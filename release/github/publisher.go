package github

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"

	gh "github.com/google/go-github/v84/github"

	releaseversion "github.com/distro-io/distro/release/version"
)

// Publisher puts one release and its assets on GitHub. Every method is safe to repeat:
// a release pipeline that failed midway is finished by running it again.
type Publisher interface {
	// Preflight checks that the token works and may write to the repository, so a
	// release fails before anything is built rather than after.
	Preflight(ctx context.Context) error
	// EnsureDraft returns the release for r.Tag: an existing one (a draft is updated
	// to r's name, body and prerelease flag; a published one is left alone) or a new
	// draft.
	EnsureDraft(ctx context.Context, r Release) (ReleaseRef, error)
	// Assets lists the assets the release holds.
	Assets(ctx context.Context, ref ReleaseRef) ([]RemoteAsset, error)
	// Upload uploads a file and verifies what GitHub stored, or skips it if the
	// release already holds identical content under that name.
	Upload(ctx context.Context, ref ReleaseRef, a Asset) (UploadResult, error)
	// Publish turns a draft into a published release.
	Publish(ctx context.Context, ref ReleaseRef) (ReleaseRef, error)
}

// Release describes the release to create.
type Release struct {
	Tag string
	// Commitish is where GitHub creates the tag on publishing if it does not exist yet;
	// empty means the default branch.
	Commitish  string
	Name       string
	Body       string
	Prerelease bool
}

// ReleaseFor describes the release of version v: tagged and named by the version, a
// prerelease when v is a release candidate.
func ReleaseFor(v releaseversion.Version, commitish, notes string) Release {
	return Release{Tag: v.String(), Commitish: commitish, Name: v.String(), Body: notes, Prerelease: v.IsCandidate()}
}

// ReleaseRef identifies a release on GitHub.
type ReleaseRef struct {
	ID      int64
	Tag     string
	Draft   bool
	HTMLURL string
	// Reused is true when the release existed before EnsureDraft was called.
	Reused bool
}

// Asset is a local file to attach to a release under Name.
type Asset struct {
	Name string
	Path string
}

// RemoteAsset is an asset as GitHub holds it.
type RemoteAsset struct {
	ID    int64
	Name  string
	Size  int64
	State string // "uploaded", or "starter" for an upload that never finished
}

// UploadOutcome says what Upload did.
type UploadOutcome string

const (
	// Uploaded: the file was uploaded and GitHub's copy verified.
	Uploaded UploadOutcome = "uploaded"
	// SkippedIdentical: the release already held the same bytes under that name.
	SkippedIdentical UploadOutcome = "skipped: identical asset already present"
)

// UploadResult reports one asset.
type UploadResult struct {
	Name    string
	Outcome UploadOutcome
	Size    int64
	SHA256  string
	// ReplacedIncomplete is true when an interrupted earlier upload of this asset was
	// deleted before uploading again.
	ReplacedIncomplete bool
}

// ErrAssetDiffers marks an asset already on the release under the same name with other content.
var ErrAssetDiffers = errors.New("asset already present with different content")

// ErrPublished marks a change refused because the release is already published.
var ErrPublished = errors.New("release is already published")

const perPage = 100

// Preflight implements Publisher.
func (c *Client) Preflight(ctx context.Context) error {
	repo, _, err := c.gh.Repositories.Get(ctx, c.owner, c.repo)
	if err != nil {
		return c.apiError("checking access", err)
	}
	// Some tokens (GitHub Apps) get no permissions block; then only a write will tell.
	if p := repo.GetPermissions(); p != nil && !p.GetPush() {
		return fmt.Errorf("checking access on %s: the token can read the repository but not push to it; publishing needs write access", c.Repository())
	}
	return nil
}

// EnsureDraft implements Publisher.
func (c *Client) EnsureDraft(ctx context.Context, r Release) (ReleaseRef, error) {
	if r.Tag == "" {
		return ReleaseRef{}, errors.New("release: tag is required")
	}
	existing, err := c.findRelease(ctx, r.Tag)
	if err != nil {
		return ReleaseRef{}, err
	}
	if existing == nil {
		created, _, err := c.gh.Repositories.CreateRelease(ctx, c.owner, c.repo, &gh.RepositoryRelease{
			TagName:         gh.Ptr(r.Tag),
			TargetCommitish: optional(r.Commitish),
			Name:            gh.Ptr(r.Name),
			Body:            gh.Ptr(r.Body),
			Draft:           gh.Ptr(true),
			Prerelease:      gh.Ptr(r.Prerelease),
		})
		if err == nil {
			return refOf(created, false), nil
		}
		if !hasErrorCode(err, "already_exists") {
			return ReleaseRef{}, c.apiError("creating draft release "+r.Tag, err)
		}
		// Someone created it between our look and our create: use theirs.
		if existing, err = c.findRelease(ctx, r.Tag); err != nil {
			return ReleaseRef{}, err
		}
		if existing == nil {
			return ReleaseRef{}, fmt.Errorf("creating draft release %s on %s: GitHub says a release with that tag exists, but none is listed", r.Tag, c.Repository())
		}
	}
	if !existing.GetDraft() {
		return refOf(existing, true), nil
	}
	if existing.GetName() != r.Name || existing.GetBody() != r.Body || existing.GetPrerelease() != r.Prerelease {
		edited, _, err := c.gh.Repositories.EditRelease(ctx, c.owner, c.repo, existing.GetID(), &gh.RepositoryRelease{
			Name: gh.Ptr(r.Name), Body: gh.Ptr(r.Body), Prerelease: gh.Ptr(r.Prerelease),
		})
		if err != nil {
			return ReleaseRef{}, c.apiError("updating draft release "+r.Tag, err)
		}
		existing = edited
	}
	return refOf(existing, true), nil
}

// findRelease returns the release tagged tag, or nil. Published releases are found by
// tag; drafts are not (GitHub does not return them by tag), so they are listed.
func (c *Client) findRelease(ctx context.Context, tag string) (*gh.RepositoryRelease, error) {
	rel, resp, err := c.gh.Repositories.GetReleaseByTag(ctx, c.owner, c.repo, tag)
	switch {
	case err == nil:
		return rel, nil
	case resp == nil || resp.StatusCode != http.StatusNotFound:
		return nil, c.apiError("looking up release "+tag, err)
	}
	var drafts []*gh.RepositoryRelease
	opts := &gh.ListOptions{PerPage: perPage}
	for {
		page, resp, err := c.gh.Repositories.ListReleases(ctx, c.owner, c.repo, opts)
		if err != nil {
			return nil, c.apiError("listing releases", err)
		}
		for _, r := range page {
			if r.GetTagName() == tag && r.GetDraft() {
				drafts = append(drafts, r)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	switch len(drafts) {
	case 0:
		return nil, nil
	case 1:
		return drafts[0], nil
	default:
		return nil, fmt.Errorf("looking up release %s on %s: %d drafts carry that tag; delete all but one", tag, c.Repository(), len(drafts))
	}
}

func refOf(r *gh.RepositoryRelease, reused bool) ReleaseRef {
	return ReleaseRef{ID: r.GetID(), Tag: r.GetTagName(), Draft: r.GetDraft(), HTMLURL: r.GetHTMLURL(), Reused: reused}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Assets implements Publisher.
func (c *Client) Assets(ctx context.Context, ref ReleaseRef) ([]RemoteAsset, error) {
	var out []RemoteAsset
	opts := &gh.ListOptions{PerPage: perPage}
	for {
		page, resp, err := c.gh.Repositories.ListReleaseAssets(ctx, c.owner, c.repo, ref.ID, opts)
		if err != nil {
			return nil, c.apiError("listing assets of release "+ref.Tag, err)
		}
		for _, a := range page {
			out = append(out, RemoteAsset{ID: a.GetID(), Name: a.GetName(), Size: int64(a.GetSize()), State: a.GetState()})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// Upload implements Publisher.
func (c *Client) Upload(ctx context.Context, ref ReleaseRef, a Asset) (UploadResult, error) {
	if err := validateAssetName(a.Name); err != nil {
		return UploadResult{}, err
	}
	f, err := os.Open(a.Path)
	if err != nil {
		return UploadResult{}, fmt.Errorf("asset %q: %w", a.Name, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return UploadResult{}, fmt.Errorf("asset %q: %s is not a regular file", a.Name, a.Path)
	}
	local, err := digestOf(f)
	if err != nil {
		return UploadResult{}, fmt.Errorf("asset %q: reading %s: %w", a.Name, a.Path, err)
	}
	result := UploadResult{Name: a.Name, Outcome: Uploaded, Size: local.size, SHA256: local.sha256}

	remote, err := c.Assets(ctx, ref)
	if err != nil {
		return UploadResult{}, err
	}
	for _, r := range remote {
		if r.Name != a.Name {
			continue
		}
		if r.State != "uploaded" {
			if !ref.Draft {
				return UploadResult{}, fmt.Errorf("asset %q on release %s is incomplete (state %q): %w; fix it by hand", a.Name, ref.Tag, r.State, ErrPublished)
			}
			// An interrupted upload leaves a stub that blocks the name; drafts are ours to fix.
			if _, err := c.gh.Repositories.DeleteReleaseAsset(ctx, c.owner, c.repo, r.ID); err != nil {
				return UploadResult{}, c.apiError(fmt.Sprintf("deleting incomplete asset %q of release %s", a.Name, ref.Tag), err)
			}
			result.ReplacedIncomplete = true
			break
		}
		held := digest{size: r.Size}
		if r.Size == local.size {
			if held, err = c.download(ctx, r.ID); err != nil {
				return UploadResult{}, fmt.Errorf("asset %q: %w", a.Name, err)
			}
		}
		if held != local {
			return UploadResult{}, fmt.Errorf("release %s: asset %q: %w: GitHub holds %s, %s has %s",
				ref.Tag, a.Name, ErrAssetDiffers, held, a.Path, local)
		}
		result.Outcome = SkippedIdentical
		return result, nil
	}
	if !ref.Draft {
		return UploadResult{}, fmt.Errorf("release %s has no asset %q: %w, refusing to change its assets", ref.Tag, a.Name, ErrPublished)
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return UploadResult{}, fmt.Errorf("asset %q: %w", a.Name, err)
	}
	uploaded, _, err := c.gh.Repositories.UploadReleaseAsset(ctx, c.owner, c.repo, ref.ID,
		&gh.UploadOptions{Name: a.Name, MediaType: mediaType(a.Name)}, f)
	if err != nil {
		if hasErrorCode(err, "already_exists") {
			return UploadResult{}, fmt.Errorf("uploading asset %q to release %s: it appeared while uploading; is another release running? %w", a.Name, ref.Tag, err)
		}
		return UploadResult{}, c.apiError(fmt.Sprintf("uploading asset %q to release %s", a.Name, ref.Tag), err)
	}
	held, err := c.download(ctx, uploaded.GetID())
	if err != nil {
		return UploadResult{}, fmt.Errorf("verifying asset %q: %w", a.Name, err)
	}
	if held != local || int64(uploaded.GetSize()) != local.size {
		return UploadResult{}, fmt.Errorf("verifying asset %q of release %s: GitHub holds %s (reported size %d), %s has %s",
			a.Name, ref.Tag, held, uploaded.GetSize(), a.Path, local)
	}
	return result, nil
}

// Publish implements Publisher.
func (c *Client) Publish(ctx context.Context, ref ReleaseRef) (ReleaseRef, error) {
	if !ref.Draft {
		return ref, nil
	}
	rel, _, err := c.gh.Repositories.EditRelease(ctx, c.owner, c.repo, ref.ID, &gh.RepositoryRelease{Draft: gh.Ptr(false)})
	if err != nil {
		return ref, c.apiError("publishing release "+ref.Tag, err)
	}
	if rel.GetDraft() {
		return ref, fmt.Errorf("publishing release %s on %s: GitHub still reports it as a draft", ref.Tag, c.Repository())
	}
	out := refOf(rel, ref.Reused)
	return out, nil
}

// download fetches an asset through the API (which redirects to storage) and digests it.
func (c *Client) download(ctx context.Context, id int64) (digest, error) {
	rc, _, err := c.gh.Repositories.DownloadReleaseAsset(ctx, c.owner, c.repo, id, c.storage)
	if err != nil {
		return digest{}, c.apiError(fmt.Sprintf("downloading asset %d", id), err)
	}
	defer rc.Close()
	return digestOf(rc)
}

type digest struct {
	size   int64
	sha256 string
}

func (d digest) String() string { return fmt.Sprintf("%d bytes with sha256 %s", d.size, d.sha256) }

func digestOf(r io.Reader) (digest, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return digest{}, err
	}
	return digest{size: n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// validateAssetName refuses names GitHub would store under another name (it replaces
// unusual characters), which would defeat finding the asset again by name.
func validateAssetName(name string) error {
	if name == "" {
		return errors.New("asset name is empty")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("asset name %q: character %q would be renamed by GitHub; use letters, digits, '.', '-' and '_'", name, r)
		}
	}
	if name[0] == '.' {
		return fmt.Errorf("asset name %q must not start with '.'", name)
	}
	return nil
}

func mediaType(name string) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
