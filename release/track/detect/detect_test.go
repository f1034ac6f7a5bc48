package detect_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	gh "github.com/google/go-github/v84/github"

	"github.com/distro-io/distro/release/githubfake"
	"github.com/distro-io/distro/release/track/detect"
	"github.com/distro-io/distro/release/upstream/upstreamtest"
)

const token = "detect-test-token"

func proxy(t *testing.T, versions ...string) detect.Proxy {
	var mods []upstreamtest.Mod
	for _, v := range versions {
		mods = append(mods, upstreamtest.Mod{Path: detect.KubernetesModule, Version: v})
	}
	return detect.Proxy{Env: upstreamtest.NewProxy(t, mods...).Env()}
}

// githubReleases serves kubernetes/kubernetes with the given releases on the fake, created
// through the API as a person would.
func githubReleases(t *testing.T, rels ...gh.RepositoryRelease) *detect.GitHubReleases {
	fake := githubfake.New(t, token)
	fake.AddRepo("kubernetes", "kubernetes")
	c, err := gh.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(fake.APIURL(), fake.UploadURL())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rels {
		if _, _, err := c.Repositories.CreateRelease(context.Background(), "kubernetes", "kubernetes", &r); err != nil {
			t.Fatal(err)
		}
	}
	src, err := detect.NewGitHubReleases(detect.GitHubOptions{Token: token, APIURL: fake.APIURL(), UploadURL: fake.UploadURL()})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func rel(tag string, prerelease, draft bool) gh.RepositoryRelease {
	return gh.RepositoryRelease{TagName: gh.Ptr(tag), Prerelease: gh.Ptr(prerelease), Draft: gh.Ptr(draft)}
}

func TestProxyListsVersionsThroughTheGoCommand(t *testing.T) {
	rels, err := proxy(t, "v1.36.9", "v1.37.2", "v1.37.3").Releases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []detect.Release{{Version: "v1.36.9"}, {Version: "v1.37.2"}, {Version: "v1.37.3"}}
	if !reflect.DeepEqual(rels, want) {
		t.Errorf("got %v, want %v", rels, want)
	}
}

func TestProxyFailureIsAnError(t *testing.T) {
	p := detect.Proxy{Env: []string{"GOPROXY=off", "GOFLAGS=-mod=mod"}}
	if _, err := p.Releases(context.Background()); err == nil || !strings.Contains(err.Error(), "go list -m -versions k8s.io/kubernetes") {
		t.Fatalf("err = %v, want the go command's failure", err)
	}
}

func TestDetectNewestPerMinor(t *testing.T) {
	ctx := context.Background()
	p := proxy(t, "v1.35.7", "v1.36.8", "v1.36.9", "v1.37.2", "v1.37.3", "v1.37.10", "v1.38.0-rc.1")
	g := githubReleases(t,
		rel("v1.35.7", false, false), rel("v1.36.9", false, false), rel("v1.36.10", false, false),
		rel("v1.37.3", false, false), rel("v1.37.10", false, true), // a draft is no release
		rel("v1.38.0-rc.1", true, false),
	)
	got, err := detect.Detect(ctx, detect.Options{Minors: []string{"1.35", "1.36", "1.37", "1.38"}}, p, g)
	if err != nil {
		t.Fatal(err)
	}
	newest := map[string]string{}
	for _, m := range got {
		newest[m.Minor] = m.Newest
	}
	want := map[string]string{"1.35": "v1.35.7", "1.36": "v1.36.9", "1.37": "v1.37.10", "1.38": ""}
	if !reflect.DeepEqual(newest, want) {
		t.Errorf("newest = %v, want %v (semantic order, pre-releases skipped)", newest, want)
	}
	if len(got[0].Notes) != 0 {
		t.Errorf("1.35: sources agree, yet notes %q", got[0].Notes)
	}
	// GitHub is ahead for 1.36: reported, but the proxy decides.
	if len(got[1].Notes) != 1 || !strings.Contains(got[1].Notes[0], "v1.36.10, not yet on Go module proxy") {
		t.Errorf("1.36 notes = %q", got[1].Notes)
	}
	if g := got[2].BySource[g.Name()]; g != "v1.37.3" {
		t.Errorf("1.37 on GitHub = %q, want v1.37.3 (the draft v1.37.10 left out)", g)
	}
	if len(got[2].Notes) != 1 || !strings.Contains(got[2].Notes[0], "authoritative") {
		t.Errorf("1.37 notes = %q", got[2].Notes)
	}

	withPre, err := detect.Detect(ctx, detect.Options{Minors: []string{"1.38"}, Prereleases: true}, p, g)
	if err != nil {
		t.Fatal(err)
	}
	if withPre[0].Newest != "v1.38.0-rc.1" || len(withPre[0].Notes) != 0 {
		t.Errorf("with pre-releases: %+v", withPre[0])
	}
}

func TestDetectSurvivesAFailingSecondSource(t *testing.T) {
	g, err := detect.NewGitHubReleases(detect.GitHubOptions{Owner: "kubernetes", Repo: "kubernetes", APIURL: "http://127.0.0.1:1/api/v3/", UploadURL: "http://127.0.0.1:1/api/uploads/"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := detect.Detect(context.Background(), detect.Options{Minors: []string{"1.37"}}, proxy(t, "v1.37.2"), g)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Newest != "v1.37.2" || len(got[0].Notes) != 1 || !strings.Contains(got[0].Notes[0], "could not be read") {
		t.Errorf("got %+v", got[0])
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, minors := range [][]string{nil, {"1.37.1"}, {"v1.37"}, {"137"}} {
		if err := (detect.Options{Minors: minors}).Validate(); err == nil {
			t.Errorf("minors %q accepted", minors)
		}
	}
	if err := (detect.Options{Minors: detect.ParseMinors(" 1.35,1.36,,1.37,1.36")}).Validate(); err != nil {
		t.Error(err)
	}
	if got := detect.ParseMinors("1.35, 1.36,,1.36"); !reflect.DeepEqual(got, []string{"1.35", "1.36"}) {
		t.Errorf("ParseMinors = %q", got)
	}
}
