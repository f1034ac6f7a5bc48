package github

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/githubfake"
	releaseversion "github.com/distro-io/distro/release/version"
)

const (
	owner = "distro-io"
	repo  = "distro"
	token = "test-token"
	tag   = "v1.37.2+distro1"
)

type fixture struct {
	t      *testing.T
	fake   *githubfake.Server
	client *Client
	dir    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fake := githubfake.New(t, token)
	fake.AddRepo(owner, repo)
	return &fixture{t: t, fake: fake, client: newClient(t, fake, token), dir: t.TempDir()}
}

func newClient(t *testing.T, fake *githubfake.Server, tok string) *Client {
	t.Helper()
	c, err := NewClient(Options{Owner: owner, Repo: repo, Token: tok, APIURL: fake.APIURL(), UploadURL: fake.UploadURL()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// asset writes a local file and returns it as an Asset.
func (f *fixture) asset(name, content string) Asset {
	f.t.Helper()
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return Asset{Name: name, Path: path}
}

func (f *fixture) plan(keepDraft bool, assets ...Asset) Plan {
	return Plan{Release: Release{Tag: tag, Name: tag, Body: "notes"}, Assets: assets, KeepDraft: keepDraft}
}

// remote returns the fake's release for tag, failing if there is not exactly one.
func (f *fixture) remote() githubfake.Release {
	f.t.Helper()
	rels := f.fake.Releases(owner, repo)
	if len(rels) != 1 || rels[0].Tag != tag {
		f.t.Fatalf("want exactly one release %s, have %+v", tag, rels)
	}
	return rels[0]
}

// assetData returns the bytes the fake holds per asset name.
func assetData(rel githubfake.Release) map[string]string {
	out := map[string]string{}
	for _, a := range rel.Assets {
		out[a.Name] = string(a.Data)
	}
	return out
}

func outcomes(r Report) string {
	var s []string
	for _, u := range r.Uploads {
		s = append(s, fmt.Sprintf("%s=%s", u.Name, u.Outcome))
	}
	return strings.Join(s, " ")
}

func TestDraftUploadVerifyPublish(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.asset("distro-amd64", "binary for amd64"), f.asset("sha256sums.txt", "sums")

	report, err := PublishRelease(ctx, f.client, f.plan(true, a, b))
	if err != nil {
		t.Fatal(err)
	}
	rel := f.remote()
	if !rel.Draft || report.Release.Reused || !report.Release.Draft || rel.Prerelease || rel.Body != "notes" {
		t.Errorf("after a KeepDraft run: release %+v, report %+v", rel, report.Release)
	}
	if got := outcomes(report); got != "distro-amd64=uploaded sha256sums.txt=uploaded" {
		t.Errorf("outcomes: %s", got)
	}
	if got := assetData(rel); got["distro-amd64"] != "binary for amd64" || got["sha256sums.txt"] != "sums" {
		t.Errorf("stored assets: %v", got)
	}
	if u, sum := report.Uploads[0], sha256.Sum256([]byte("binary for amd64")); u.Size != 16 || u.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("upload result: %+v", u)
	}
	for _, a := range rel.Assets {
		if a.ContentType == "" {
			t.Errorf("asset %s uploaded without a content type", a.Name)
		}
	}

	report, err = PublishRelease(ctx, f.client, f.plan(false, a, b))
	if err != nil {
		t.Fatal(err)
	}
	rel = f.remote()
	if rel.Draft || rel.PublishedAt.IsZero() || report.Release.Draft || !report.Release.Reused {
		t.Errorf("after publishing: release %+v, report %+v", rel, report.Release)
	}
	if got := outcomes(report); got != "distro-amd64=skipped: identical asset already present sha256sums.txt=skipped: identical asset already present" {
		t.Errorf("outcomes of the second run: %s", got)
	}

	// Once published, a third identical run changes nothing and succeeds.
	if _, err := PublishRelease(ctx, f.client, f.plan(false, a, b)); err != nil {
		t.Errorf("re-running on the published release: %v", err)
	}
}

func TestUploadSha256Recorded(t *testing.T) {
	f := newFixture(t)
	ref, err := f.client.EnsureDraft(context.Background(), Release{Tag: tag})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.client.Upload(context.Background(), ref, f.asset("hello.txt", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 5 || res.SHA256 != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Errorf("result %+v", res)
	}
}

func TestResumeAfterFailureMidway(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b, c := f.asset("a.tar.gz", "aaaa"), f.asset("b.tar.gz", "bbbbbbbb"), f.asset("c.txt", "cc")

	f.fake.FailNextUpload("b.tar.gz")
	report, err := PublishRelease(ctx, f.client, f.plan(false, a, b, c))
	if err == nil || !strings.Contains(err.Error(), `uploading asset "b.tar.gz"`) {
		t.Fatalf("first run: error %v, want the upload of b.tar.gz to fail", err)
	}
	if got := outcomes(report); got != "a.tar.gz=uploaded" {
		t.Errorf("first run outcomes: %s", got)
	}
	rel := f.remote()
	if !rel.Draft || len(rel.Assets) != 2 || rel.Assets[1].State != "starter" {
		t.Fatalf("after the failure: %+v", rel)
	}
	firstID := rel.ID

	report, err = PublishRelease(ctx, f.client, f.plan(false, a, b, c))
	if err != nil {
		t.Fatal(err)
	}
	if !report.Release.Reused || report.Release.ID != firstID {
		t.Errorf("the draft was not reused: %+v (first id %d)", report.Release, firstID)
	}
	if got := outcomes(report); got != "a.tar.gz=skipped: identical asset already present b.tar.gz=uploaded c.txt=uploaded" {
		t.Errorf("second run outcomes: %s", got)
	}
	if !report.Uploads[1].ReplacedIncomplete || report.Uploads[0].ReplacedIncomplete {
		t.Errorf("incomplete upload of b not reported as replaced: %+v", report.Uploads)
	}
	rel = f.remote()
	if rel.Draft {
		t.Error("not published")
	}
	if got := assetData(rel); len(got) != 3 || got["a.tar.gz"] != "aaaa" || got["b.tar.gz"] != "bbbbbbbb" || got["c.txt"] != "cc" {
		t.Errorf("stored assets: %v", got)
	}
}

func TestSameNameDifferentContentRefused(t *testing.T) {
	for _, tc := range []struct{ name, first, second string }{
		{"same size", "version 1", "version 2"},
		{"other size", "short", "much longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			if _, err := PublishRelease(ctx, f.client, f.plan(true, f.asset("distro-arm64", tc.first))); err != nil {
				t.Fatal(err)
			}
			_, err := PublishRelease(ctx, f.client, f.plan(true, f.asset("distro-arm64", tc.second)))
			if !errors.Is(err, ErrAssetDiffers) || !strings.Contains(err.Error(), `asset "distro-arm64"`) {
				t.Fatalf("error %v, want ErrAssetDiffers naming distro-arm64", err)
			}
			if got := assetData(f.remote()); got["distro-arm64"] != tc.first {
				t.Errorf("the stored asset changed: %q", got["distro-arm64"])
			}
		})
	}
}

func TestPublishedReleaseWithOtherAssetsRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.asset("a", "aaa"), f.asset("b", "bbb")
	if _, err := PublishRelease(ctx, f.client, f.plan(false, a, b)); err != nil {
		t.Fatal(err)
	}

	for name, assets := range map[string][]Asset{
		"missing":  {a, b, f.asset("c", "ccc")},
		"extra":    {a},
		"replaced": {a, f.asset("d", "ddd")},
	} {
		_, err := PublishRelease(ctx, f.client, f.plan(false, assets...))
		if !errors.Is(err, ErrPublished) || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("%s: error %v, want a refusal", name, err)
		}
	}
	_, err := PublishRelease(ctx, f.client, f.plan(false, a, f.asset("b", "BBB")))
	if !errors.Is(err, ErrAssetDiffers) {
		t.Errorf("changed content on a published release: error %v", err)
	}
	if got := assetData(f.remote()); len(got) != 2 || got["b"] != "bbb" {
		t.Errorf("the published release changed: %v", got)
	}
}

func TestDraftWithStrayAssetNotPublished(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := PublishRelease(ctx, f.client, f.plan(true, f.asset("old-name", "x"))); err != nil {
		t.Fatal(err)
	}
	_, err := PublishRelease(ctx, f.client, f.plan(false, f.asset("new-name", "x")))
	if err == nil || !strings.Contains(err.Error(), "not part of this release: old-name") {
		t.Fatalf("error %v, want one naming the stray asset", err)
	}
	if !f.remote().Draft {
		t.Error("a draft with a stray asset was published")
	}
}

func TestVerificationCatchesDamagedUpload(t *testing.T) {
	f := newFixture(t)
	f.fake.CorruptNextUpload("distro-amd64")
	_, err := PublishRelease(context.Background(), f.client, f.plan(false, f.asset("distro-amd64", "the real bytes")))
	if err == nil || !strings.Contains(err.Error(), `verifying asset "distro-amd64"`) {
		t.Fatalf("error %v, want verification to fail", err)
	}
	if !f.remote().Draft {
		t.Error("a release with a damaged asset was published")
	}
}

func TestBadToken(t *testing.T) {
	f := newFixture(t)
	bad := newClient(t, f.fake, "wrong-token")
	for name, err := range map[string]error{
		"preflight": bad.Preflight(context.Background()),
		"publish": func() error {
			_, err := PublishRelease(context.Background(), bad, f.plan(false, f.asset("a", "a")))
			return err
		}(),
	} {
		if !errors.Is(err, ErrAuthentication) || !strings.Contains(err.Error(), "authentication failed") {
			t.Errorf("%s: error %v, want an authentication failure", name, err)
		}
	}
	if len(f.fake.Releases(owner, repo)) != 0 {
		t.Error("a release was created with a bad token")
	}
}

func TestPreflight(t *testing.T) {
	f := newFixture(t)
	if err := f.client.Preflight(context.Background()); err != nil {
		t.Errorf("writable repository: %v", err)
	}
	f.fake.AddReadOnlyRepo(owner, "readonly")
	ro, _ := NewClient(Options{Owner: owner, Repo: "readonly", Token: token, APIURL: f.fake.APIURL(), UploadURL: f.fake.UploadURL()})
	if err := ro.Preflight(context.Background()); err == nil || !strings.Contains(err.Error(), "not push") {
		t.Errorf("read-only repository: %v", err)
	}
	missing, _ := NewClient(Options{Owner: owner, Repo: "missing", Token: token, APIURL: f.fake.APIURL(), UploadURL: f.fake.UploadURL()})
	if err := missing.Preflight(context.Background()); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing repository: %v", err)
	}
}

func TestCandidateIsPrerelease(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		version    string
		prerelease bool
	}{
		{"v1.37.2-rc1+distro1", true},
		{"v1.37.2+distro1", false},
	} {
		v, err := releaseversion.Parse(tc.version)
		if err != nil {
			t.Fatal(err)
		}
		plan := Plan{Release: ReleaseFor(v, "main", "notes"), Assets: []Asset{f.asset("a", "a")}}
		if _, err := PublishRelease(ctx, f.client, plan); err != nil {
			t.Fatal(err)
		}
		rel, ok := f.fake.Release(owner, repo, tc.version)
		if !ok || rel.Prerelease != tc.prerelease || rel.Draft || rel.Name != tc.version || rel.Commitish != "main" {
			t.Errorf("%s: %+v", tc.version, rel)
		}
	}
}

func TestDraftReusedAndUpdated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.client.EnsureDraft(ctx, Release{Tag: tag, Name: tag, Body: "first notes"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.client.EnsureDraft(ctx, Release{Tag: tag, Name: tag, Body: "better notes", Prerelease: true})
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || !second.Reused || first.Reused {
		t.Errorf("first %+v, second %+v", first, second)
	}
	if rel := f.remote(); rel.Body != "better notes" || !rel.Prerelease {
		t.Errorf("the draft was not updated: %+v", rel)
	}
}

// A draft listed on a later page is still found: drafts cannot be looked up by tag.
func TestDraftFoundBeyondFirstPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.client.EnsureDraft(ctx, Release{Tag: "v1.0.0+distro1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range perPage + 5 {
		if _, err := f.client.EnsureDraft(ctx, Release{Tag: fmt.Sprintf("v1.0.%d+distro1", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	again, err := f.client.EnsureDraft(ctx, Release{Tag: "v1.0.0+distro1"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || !again.Reused {
		t.Errorf("got %+v, want the draft %d", again, first.ID)
	}
	if n := len(f.fake.Releases(owner, repo)); n != perPage+6 {
		t.Errorf("%d releases", n)
	}
}

func TestEnterpriseURLs(t *testing.T) {
	f := newFixture(t)
	apiRoot := "http://" + f.fake.APIHost()
	uploadRoot := "http://" + f.fake.UploadHost()
	// Given as bare hosts, go-github completes them to /api/v3/ and /api/uploads/.
	c, err := NewClient(Options{Owner: owner, Repo: repo, Token: token, APIURL: apiRoot, UploadURL: uploadRoot})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PublishRelease(context.Background(), c, f.plan(false, f.asset("a", "aaa"))); err != nil {
		t.Fatal(err)
	}
	var uploads int
	for _, r := range f.fake.Requests() {
		switch {
		case strings.HasPrefix(r.Path, "/api/uploads/"):
			uploads++
			if r.Host != f.fake.UploadHost() || r.Method != "POST" {
				t.Errorf("upload %s %s went to %s", r.Method, r.Path, r.Host)
			}
		case strings.HasPrefix(r.Path, "/api/v3/"):
			if r.Host != f.fake.APIHost() {
				t.Errorf("API request %s went to %s", r.Path, r.Host)
			}
		case strings.HasPrefix(r.Path, "/_storage/"):
		default:
			t.Errorf("request outside the enterprise layout: %+v", r)
		}
	}
	if uploads != 1 {
		t.Errorf("%d uploads, want 1", uploads)
	}
}

func TestOptionsValidate(t *testing.T) {
	err := Options{Owner: "a/b", APIURL: "http://x"}.Validate()
	for _, want := range []string{"owner and name are required", `must not contain "/"`, "token is required", "must be given together"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to say %q", err, want)
		}
	}
	if _, err := NewClient(Options{Owner: "o", Repo: "r"}); err == nil {
		t.Error("NewClient accepted options without a token")
	}
}

func TestAssetNamesGitHubWouldRename(t *testing.T) {
	f := newFixture(t)
	ref, err := f.client.EnsureDraft(context.Background(), Release{Tag: tag})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"distro+1", "a b", ".hidden", ""} {
		a := f.asset("file", "x")
		a.Name = name
		if _, err := f.client.Upload(context.Background(), ref, a); err == nil || !strings.Contains(err.Error(), "asset name") {
			t.Errorf("name %q: error %v", name, err)
		}
	}
	if _, err := PublishRelease(context.Background(), f.client, f.plan(true, f.asset("x", "1"), f.asset("x", "1"))); err == nil || !strings.Contains(err.Error(), `"x" appears twice`) {
		t.Errorf("duplicate names in a plan: %v", err)
	}
}
