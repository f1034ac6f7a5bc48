package githubfake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// call makes one raw request and decodes a JSON answer into out (if not nil).
func call(t *testing.T, method, u, token, contentType string, body []byte, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, u, err, data)
		}
	}
	return resp
}

func TestAuthenticationAndNotFound(t *testing.T) {
	s := New(t, "secret")
	s.AddRepo("o", "r")
	var body map[string]any
	for _, tok := range []string{"", "wrong"} {
		resp := call(t, "GET", s.APIURL()+"repos/o/r/releases", tok, "", nil, &body)
		if resp.StatusCode != 401 || body["message"] != "Bad credentials" {
			t.Errorf("token %q: %d %v", tok, resp.StatusCode, body)
		}
	}
	resp := call(t, "POST", s.UploadURL()+"repos/o/r/releases/1/assets?name=x", "wrong", "text/plain", []byte("x"), &body)
	if resp.StatusCode != 401 {
		t.Errorf("upload with a wrong token: %d", resp.StatusCode)
	}
	for _, path := range []string{"repos/o/missing/releases", "repos/o/r/releases/99", "repos/o/r/releases/assets/99", "repos/o/r/releases/tags/v1"} {
		resp := call(t, "GET", s.APIURL()+path, "secret", "", nil, &body)
		if resp.StatusCode != 404 || body["message"] != "Not Found" {
			t.Errorf("%s: %d %v", path, resp.StatusCode, body)
		}
	}
}

func TestReleaseLifecycle(t *testing.T) {
	s := New(t, "secret")
	s.AddRepo("o", "r")
	var rel struct {
		ID        int64  `json:"id"`
		UploadURL string `json:"upload_url"`
		Draft     bool   `json:"draft"`
	}
	create := []byte(`{"tag_name":"v1.0.0+distro1","draft":true}`)
	if resp := call(t, "POST", s.APIURL()+"repos/o/r/releases", "secret", "application/json", create, &rel); resp.StatusCode != 201 || !rel.Draft {
		t.Fatalf("create: %d %+v", resp.StatusCode, rel)
	}

	var dup struct {
		Message string
		Errors  []fieldError
	}
	call(t, "POST", s.APIURL()+"repos/o/r/releases", "secret", "application/json", create, &dup)
	if want := (fieldError{Resource: "Release", Code: "already_exists", Field: "tag_name"}); len(dup.Errors) != 1 || dup.Errors[0] != want {
		t.Errorf("duplicate tag: %+v", dup)
	}

	// Drafts are not found by tag.
	if resp := call(t, "GET", s.APIURL()+"repos/o/r/releases/tags/v1.0.0+distro1", "secret", "", nil, nil); resp.StatusCode != 404 {
		t.Errorf("draft by tag: %d", resp.StatusCode)
	}

	// The upload URL is a template on the upload listener.
	base, ok := strings.CutSuffix(rel.UploadURL, "{?name,label}")
	if !ok || !strings.HasPrefix(base, "http://"+s.UploadHost()+"/api/uploads/") {
		t.Fatalf("upload_url %q", rel.UploadURL)
	}
	var asset struct {
		ID     int64
		Size   int
		Digest string
		State  string
	}
	if resp := call(t, "POST", base+"?name=a.txt", "secret", "text/plain", []byte("hello"), &asset); resp.StatusCode != 201 || asset.Size != 5 || asset.State != "uploaded" ||
		asset.Digest != "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("upload: %d %+v", resp.StatusCode, asset)
	}
	call(t, "POST", base+"?name=a.txt", "secret", "text/plain", []byte("other"), &dup)
	if want := (fieldError{Resource: "ReleaseAsset", Code: "already_exists", Field: "name"}); len(dup.Errors) != 1 || dup.Errors[0] != want {
		t.Errorf("duplicate asset: %+v", dup)
	}
	if resp := call(t, "POST", s.APIURL()+"repos/o/r/releases/1/assets?name=b.txt", "secret", "text/plain", []byte("x"), nil); resp.StatusCode != 404 && resp.StatusCode != 405 {
		t.Errorf("upload on the API host: %d", resp.StatusCode)
	}

	// Octet-stream download redirects to a storage URL that needs no credentials.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", s.APIURL()+"repos/o/r/releases/assets/"+itoa(asset.ID), nil)
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || loc == "" {
		t.Fatalf("octet-stream download: %d %q", resp.StatusCode, loc)
	}
	got, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(data) != "hello" {
		t.Errorf("downloaded %q", data)
	}
	tampered, _ := url.Parse(loc)
	tampered.RawQuery = "signature=forged"
	if resp, _ := http.Get(tampered.String()); resp.StatusCode != 403 {
		t.Errorf("forged storage URL: %d", resp.StatusCode)
	}

	var published struct {
		Draft       bool
		PublishedAt *string `json:"published_at"`
	}
	call(t, "PATCH", s.APIURL()+"repos/o/r/releases/"+itoa(rel.ID), "secret", "application/json", []byte(`{"draft":false}`), &published)
	if published.Draft || published.PublishedAt == nil {
		t.Errorf("publish: %+v", published)
	}
	if r, _ := s.Release("o", "r", "v1.0.0+distro1"); r.Draft || len(r.Assets) != 1 || string(r.Assets[0].Data) != "hello" {
		t.Errorf("state after publish: %+v", r)
	}
}

func TestPagination(t *testing.T) {
	s := New(t, "secret")
	s.AddRepo("o", "r")
	for i := range 5 {
		call(t, "POST", s.APIURL()+"repos/o/r/releases", "secret", "application/json", []byte(`{"tag_name":"t`+itoa(int64(i))+`"}`), nil)
	}
	var page []struct {
		TagName string `json:"tag_name"`
	}
	resp := call(t, "GET", s.APIURL()+"repos/o/r/releases?per_page=2&page=3", "secret", "", nil, &page)
	if len(page) != 1 || page[0].TagName != "t0" {
		t.Errorf("last page, newest first: %+v", page)
	}
	if link := resp.Header.Get("Link"); !strings.Contains(link, `rel="prev"`) || strings.Contains(link, `rel="next"`) {
		t.Errorf("Link on the last page: %q", link)
	}
	resp = call(t, "GET", s.APIURL()+"repos/o/r/releases?per_page=2", "secret", "", nil, &page)
	if link := resp.Header.Get("Link"); !strings.Contains(link, "page=2") || !strings.Contains(link, `rel="next"`) {
		t.Errorf("Link on the first page: %q", link)
	}
}

func TestPulls(t *testing.T) {
	s := New(t, "secret")
	s.AddRepo("o", "r")
	var pr struct{ Number int }
	body := []byte(`{"title":"Bump","head":"bump-1","base":"main"}`)
	if resp := call(t, "POST", s.APIURL()+"repos/o/r/pulls", "secret", "application/json", body, &pr); resp.StatusCode != 201 || pr.Number != 1 {
		t.Fatalf("create: %d %+v", resp.StatusCode, pr)
	}
	var dup struct{ Errors []fieldError }
	call(t, "POST", s.APIURL()+"repos/o/r/pulls", "secret", "application/json", body, &dup)
	if len(dup.Errors) != 1 || dup.Errors[0].Message != "A pull request already exists for o:bump-1." {
		t.Errorf("duplicate: %+v", dup)
	}
	var list []struct{ Number int }
	call(t, "GET", s.APIURL()+"repos/o/r/pulls?head=o:bump-1", "secret", "", nil, &list)
	if len(list) != 1 {
		t.Errorf("by head: %+v", list)
	}
	call(t, "GET", s.APIURL()+"repos/o/r/pulls?head=o:other", "secret", "", nil, &list)
	if len(list) != 0 {
		t.Errorf("by another head: %+v", list)
	}
	call(t, "POST", s.APIURL()+"repos/o/r/issues/1/labels", "secret", "application/json", []byte(`{"labels":["upstream"]}`), nil)
	call(t, "PATCH", s.APIURL()+"repos/o/r/pulls/1", "secret", "application/json", []byte(`{"state":"closed"}`), nil)
	if got := s.PullRequests("o", "r"); len(got) != 1 || got[0].State != "closed" || len(got[0].Labels) != 1 {
		t.Errorf("state: %+v", got)
	}
}

func TestPullStateCommentsAndLabels(t *testing.T) {
	s := New(t, "secret")
	s.AddRepo("o", "r")
	api := s.APIURL() + "repos/o/r/"
	create := func(head string) int {
		var pr struct{ Number int }
		call(t, "POST", api+"pulls", "secret", "application/json", []byte(`{"title":"Bump","head":"`+head+`","base":"main"}`), &pr)
		return pr.Number
	}
	type pull struct {
		State    string
		ClosedAt *string `json:"closed_at"`
		MergedAt *string `json:"merged_at"`
	}
	edit := func(n int, body string) (*http.Response, pull, map[string]any) {
		var raw json.RawMessage
		resp := call(t, "PATCH", api+"pulls/"+strconv.Itoa(n), "secret", "application/json", []byte(body), &raw)
		var p pull
		var e map[string]any
		json.Unmarshal(raw, &p)
		json.Unmarshal(raw, &e)
		return resp, p, e
	}

	first := create("bump-1")
	if _, p, _ := edit(first, `{"state":"closed"}`); p.State != "closed" || p.ClosedAt == nil || p.MergedAt != nil {
		t.Errorf("closed: %+v", p)
	}
	// A closed pull request's branch may get a new one; the old one then cannot reopen.
	second := create("bump-1")
	if resp, _, e := edit(first, `{"state":"open"}`); resp.StatusCode != 422 || !strings.Contains(e["errors"].([]any)[0].(map[string]any)["message"].(string), "already exists for o:bump-1") {
		t.Errorf("reopen beside an open one: %d %v", resp.StatusCode, e)
	}
	edit(second, `{"state":"closed"}`)
	if _, p, _ := edit(first, `{"state":"open"}`); p.State != "open" || p.ClosedAt != nil {
		t.Errorf("reopened: %+v", p)
	}

	var merged map[string]any
	if resp := call(t, "PUT", api+"pulls/"+strconv.Itoa(first)+"/merge", "secret", "application/json", []byte(`{}`), &merged); resp.StatusCode != 200 || merged["merged"] != true {
		t.Errorf("merge: %d %v", resp.StatusCode, merged)
	}
	var got pull
	call(t, "GET", api+"pulls/"+strconv.Itoa(first), "secret", "", nil, &got)
	if got.State != "closed" || got.MergedAt == nil {
		t.Errorf("after merge: %+v", got)
	}
	if resp := call(t, "PUT", api+"pulls/"+strconv.Itoa(first)+"/merge", "secret", "application/json", []byte(`{}`), nil); resp.StatusCode != 405 {
		t.Errorf("merging a closed pull request: %d", resp.StatusCode)
	}
	if resp, _, _ := edit(first, `{"state":"open"}`); resp.StatusCode != 422 {
		t.Errorf("reopening a merged pull request: %d", resp.StatusCode)
	}

	var comment struct {
		ID      int64
		Body    string
		HTMLURL string `json:"html_url"`
	}
	if resp := call(t, "POST", api+"issues/"+strconv.Itoa(second)+"/comments", "secret", "application/json", []byte(`{"body":"superseded"}`), &comment); resp.StatusCode != 201 || comment.Body != "superseded" || !strings.Contains(comment.HTMLURL, "#issuecomment-") {
		t.Errorf("comment: %d %+v", resp.StatusCode, comment)
	}
	if resp := call(t, "POST", api+"issues/"+strconv.Itoa(second)+"/comments", "secret", "application/json", []byte(`{}`), nil); resp.StatusCode != 422 {
		t.Errorf("empty comment: %d", resp.StatusCode)
	}

	call(t, "POST", api+"issues/"+strconv.Itoa(second)+"/labels", "secret", "application/json", []byte(`["needs-human","upstream"]`), nil)
	var left []struct{ Name string }
	if resp := call(t, "DELETE", api+"issues/"+strconv.Itoa(second)+"/labels/needs-human", "secret", "", nil, &left); resp.StatusCode != 200 || len(left) != 1 || left[0].Name != "upstream" {
		t.Errorf("remove label: %d %+v", resp.StatusCode, left)
	}
	var e map[string]any
	if resp := call(t, "DELETE", api+"issues/"+strconv.Itoa(second)+"/labels/needs-human", "secret", "", nil, &e); resp.StatusCode != 404 || e["message"] != "Label does not exist" {
		t.Errorf("remove a missing label: %d %v", resp.StatusCode, e)
	}

	prs := s.PullRequests("o", "r")
	if len(prs) != 2 || !prs[0].Merged || prs[1].Merged || len(prs[1].Comments) != 1 || prs[1].Comments[0] != "superseded" || len(prs[1].Labels) != 1 {
		t.Errorf("snapshot: %+v", prs)
	}
}

func TestReadOnlyRepository(t *testing.T) {
	s := New(t, "secret")
	s.AddReadOnlyRepo("o", "r")
	var repo struct{ Permissions map[string]bool }
	call(t, "GET", s.APIURL()+"repos/o/r", "secret", "", nil, &repo)
	if repo.Permissions["push"] || !repo.Permissions["pull"] {
		t.Errorf("permissions: %v", repo.Permissions)
	}
	if resp := call(t, "POST", s.APIURL()+"repos/o/r/releases", "secret", "application/json", []byte(`{"tag_name":"x"}`), nil); resp.StatusCode != 403 {
		t.Errorf("write: %d", resp.StatusCode)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
