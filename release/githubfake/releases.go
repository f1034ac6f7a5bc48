package githubfake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

type repoJSON struct {
	ID          int64           `json:"id"`
	Name        string          `json:"name"`
	FullName    string          `json:"full_name"`
	HTMLURL     string          `json:"html_url"`
	URL         string          `json:"url"`
	Permissions map[string]bool `json:"permissions"`
}

type releaseJSON struct {
	ID              int64       `json:"id"`
	URL             string      `json:"url"`
	HTMLURL         string      `json:"html_url"`
	AssetsURL       string      `json:"assets_url"`
	UploadURL       string      `json:"upload_url"`
	TagName         string      `json:"tag_name"`
	TargetCommitish string      `json:"target_commitish"`
	Name            string      `json:"name"`
	Body            string      `json:"body"`
	Draft           bool        `json:"draft"`
	Prerelease      bool        `json:"prerelease"`
	CreatedAt       time.Time   `json:"created_at"`
	PublishedAt     *time.Time  `json:"published_at"`
	Assets          []assetJSON `json:"assets"`
}

type assetJSON struct {
	ID                 int64     `json:"id"`
	URL                string    `json:"url"`
	BrowserDownloadURL string    `json:"browser_download_url"`
	Name               string    `json:"name"`
	Label              string    `json:"label"`
	State              string    `json:"state"`
	ContentType        string    `json:"content_type"`
	Size               int       `json:"size"`
	Digest             *string   `json:"digest"`
	DownloadCount      int       `json:"download_count"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request, repo *repoState) {
	writeJSON(w, http.StatusOK, repoJSON{
		ID: 1, Name: repo.name, FullName: repo.owner + "/" + repo.name,
		HTMLURL: s.htmlURL(repo), URL: s.repoURL(repo),
		Permissions: map[string]bool{"admin": false, "maintain": false, "push": repo.push, "triage": repo.push, "pull": true},
	})
}

func (s *Server) releaseJSON(repo *repoState, rel *releaseState) releaseJSON {
	out := releaseJSON{
		ID:        rel.id,
		URL:       fmt.Sprintf("%s/releases/%d", s.repoURL(repo), rel.id),
		HTMLURL:   fmt.Sprintf("%s/releases/tag/%s", s.htmlURL(repo), url.PathEscape(rel.tag)),
		AssetsURL: fmt.Sprintf("%s/releases/%d/assets", s.repoURL(repo), rel.id),
		// An RFC 6570 template on the upload host, as GitHub returns it.
		UploadURL:       fmt.Sprintf("%s%s/repos/%s/%s/releases/%d/assets{?name,label}", s.uploads.URL, uploadsPrefix, repo.owner, repo.name, rel.id),
		TagName:         rel.tag,
		TargetCommitish: rel.commitish,
		Name:            rel.name,
		Body:            rel.body,
		Draft:           rel.draft,
		Prerelease:      rel.prerelease,
		CreatedAt:       rel.createdAt,
		Assets:          []assetJSON{},
	}
	if !rel.draft {
		published := rel.publishedAt
		out.PublishedAt = &published
	}
	for _, a := range rel.assets {
		out.Assets = append(out.Assets, s.assetJSON(repo, rel, a))
	}
	return out
}

func (s *Server) assetJSON(repo *repoState, rel *releaseState, a *assetState) assetJSON {
	out := assetJSON{
		ID:  a.id,
		URL: fmt.Sprintf("%s/releases/assets/%d", s.repoURL(repo), a.id),
		BrowserDownloadURL: fmt.Sprintf("%s/releases/download/%s/%s",
			s.htmlURL(repo), url.PathEscape(rel.tag), url.PathEscape(a.name)),
		Name: a.name, Label: a.label, State: a.state, ContentType: a.contentType,
		Size: len(a.data), CreatedAt: a.createdAt, UpdatedAt: a.createdAt,
	}
	if a.state == "uploaded" {
		sum := sha256.Sum256(a.data)
		digest := "sha256:" + hex.EncodeToString(sum[:])
		out.Digest = &digest
	}
	return out
}

// listReleases lists drafts too: GitHub shows them to users who can push.
func (s *Server) listReleases(w http.ResponseWriter, r *http.Request, repo *repoState) {
	var all []releaseJSON
	for _, rel := range slices.Backward(repo.releases) { // newest first
		if rel.draft && !repo.push {
			continue
		}
		all = append(all, s.releaseJSON(repo, rel))
	}
	writeJSON(w, http.StatusOK, paginate(w, r, all))
}

func (s *Server) findRelease(w http.ResponseWriter, repo *repoState, rawID string) *releaseState {
	id, ok := parseID(w, rawID)
	if !ok {
		return nil
	}
	for _, rel := range repo.releases {
		if rel.id == id {
			return rel
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
	return nil
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request, repo *repoState) {
	if rel := s.findRelease(w, repo, r.PathValue("id")); rel != nil {
		writeJSON(w, http.StatusOK, s.releaseJSON(repo, rel))
	}
}

// releaseSubresource dispatches GET …/releases/{first}/{second}, where GitHub's own
// paths overlap: releases/tags/{tag}, releases/assets/{id} and releases/{id}/assets.
func (s *Server) releaseSubresource(w http.ResponseWriter, r *http.Request, repo *repoState) {
	switch first, second := r.PathValue("first"), r.PathValue("second"); {
	case first == "tags":
		s.getReleaseByTag(w, r, repo, second)
	case first == "assets":
		s.getAsset(w, r, repo, second)
	case second == "assets":
		s.listAssets(w, r, repo, first)
	default:
		writeError(w, http.StatusNotFound, "Not Found")
	}
}

// getReleaseByTag finds published releases only: GitHub does not return drafts by tag.
func (s *Server) getReleaseByTag(w http.ResponseWriter, r *http.Request, repo *repoState, tag string) {
	for _, rel := range repo.releases {
		if rel.tag == tag && !rel.draft {
			writeJSON(w, http.StatusOK, s.releaseJSON(repo, rel))
			return
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

type releaseFields struct {
	TagName         *string `json:"tag_name"`
	TargetCommitish *string `json:"target_commitish"`
	Name            *string `json:"name"`
	Body            *string `json:"body"`
	Draft           *bool   `json:"draft"`
	Prerelease      *bool   `json:"prerelease"`
}

func (s *Server) createRelease(w http.ResponseWriter, r *http.Request, repo *repoState) {
	var in releaseFields
	if !decodeBody(w, r, &in) {
		return
	}
	if in.TagName == nil || *in.TagName == "" {
		writeValidation(w, fieldError{Resource: "Release", Code: "missing_field", Field: "tag_name"})
		return
	}
	if tagTaken(repo, *in.TagName, nil) {
		writeValidation(w, fieldError{Resource: "Release", Code: "already_exists", Field: "tag_name"})
		return
	}
	rel := &releaseState{id: s.newID(), tag: *in.TagName, commitish: "main", createdAt: now()}
	applyReleaseFields(rel, in)
	repo.releases = append(repo.releases, rel)
	writeJSON(w, http.StatusCreated, s.releaseJSON(repo, rel))
}

func (s *Server) editRelease(w http.ResponseWriter, r *http.Request, repo *repoState) {
	rel := s.findRelease(w, repo, r.PathValue("id"))
	if rel == nil {
		return
	}
	var in releaseFields
	if !decodeBody(w, r, &in) {
		return
	}
	if in.TagName != nil && tagTaken(repo, *in.TagName, rel) {
		writeValidation(w, fieldError{Resource: "Release", Code: "already_exists", Field: "tag_name"})
		return
	}
	applyReleaseFields(rel, in)
	writeJSON(w, http.StatusOK, s.releaseJSON(repo, rel))
}

func tagTaken(repo *repoState, tag string, except *releaseState) bool {
	return slices.ContainsFunc(repo.releases, func(rel *releaseState) bool { return rel != except && rel.tag == tag })
}

func applyReleaseFields(rel *releaseState, in releaseFields) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&rel.tag, in.TagName)
	set(&rel.commitish, in.TargetCommitish)
	set(&rel.name, in.Name)
	set(&rel.body, in.Body)
	if in.Prerelease != nil {
		rel.prerelease = *in.Prerelease
	}
	if in.Draft != nil {
		rel.draft = *in.Draft
	}
	if !rel.draft && rel.publishedAt.IsZero() {
		rel.publishedAt = now()
	}
}

func (s *Server) listAssets(w http.ResponseWriter, r *http.Request, repo *repoState, releaseID string) {
	rel := s.findRelease(w, repo, releaseID)
	if rel == nil {
		return
	}
	all := []assetJSON{}
	for _, a := range rel.assets {
		all = append(all, s.assetJSON(repo, rel, a))
	}
	writeJSON(w, http.StatusOK, paginate(w, r, all))
}

func (s *Server) findAsset(w http.ResponseWriter, repo *repoState, rawID string) (*releaseState, *assetState) {
	id, ok := parseID(w, rawID)
	if !ok {
		return nil, nil
	}
	for _, rel := range repo.releases {
		for _, a := range rel.assets {
			if a.id == id {
				return rel, a
			}
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
	return nil, nil
}

// getAsset answers with the asset's JSON, or, asked for application/octet-stream,
// redirects to a short-lived storage URL as GitHub does.
func (s *Server) getAsset(w http.ResponseWriter, r *http.Request, repo *repoState, assetID string) {
	rel, a := s.findAsset(w, repo, assetID)
	if a == nil {
		return
	}
	if r.Header.Get("Accept") == "application/octet-stream" {
		http.Redirect(w, r, fmt.Sprintf("%s%s/%d?signature=%s", s.api.URL, storagePrefix, a.id, a.signature), http.StatusFound)
		return
	}
	writeJSON(w, http.StatusOK, s.assetJSON(repo, rel, a))
}

func (s *Server) deleteAsset(w http.ResponseWriter, r *http.Request, repo *repoState) {
	rel, a := s.findAsset(w, repo, r.PathValue("id"))
	if a == nil {
		return
	}
	rel.assets = slices.DeleteFunc(rel.assets, func(x *assetState) bool { return x == a })
	w.WriteHeader(http.StatusNoContent)
}

// uploadAsset serves POST …/releases/{id}/assets?name=…&label=… on the upload host.
func (s *Server) uploadAsset(w http.ResponseWriter, r *http.Request, repo *repoState) {
	rel := s.findRelease(w, repo, r.PathValue("id"))
	if rel == nil {
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		writeValidation(w, fieldError{Resource: "ReleaseAsset", Code: "missing_field", Field: "name"})
		return
	}
	if r.Header.Get("Content-Type") == "" {
		writeError(w, http.StatusBadRequest, "Content-Type header is required")
		return
	}
	if r.ContentLength < 0 {
		writeError(w, http.StatusLengthRequired, "Content-Length header is required")
		return
	}
	if slices.ContainsFunc(rel.assets, func(a *assetState) bool { return a.name == name }) {
		writeValidation(w, fieldError{Resource: "ReleaseAsset", Code: "already_exists", Field: "name"})
		return
	}
	data, err := io.ReadAll(r.Body)
	if err != nil || int64(len(data)) != r.ContentLength {
		writeError(w, http.StatusBadRequest, "Body length does not match Content-Length")
		return
	}
	a := &assetState{
		id: s.newID(), name: name, label: r.URL.Query().Get("label"), contentType: r.Header.Get("Content-Type"),
		state: "uploaded", data: data, createdAt: now(), signature: randomSignature(),
	}
	rel.assets = append(rel.assets, a)
	if s.failing[name] {
		delete(s.failing, name)
		a.state, a.data = "starter", data[:len(data)/2]
		writeError(w, http.StatusBadGateway, "Server Error")
		return
	}
	if s.corrupt[name] {
		delete(s.corrupt, name)
		// Same length, other bytes: only a checksum tells.
		a.data = slices.Clone(data)
		for i := range a.data {
			a.data[i] ^= 0xff
		}
	}
	writeJSON(w, http.StatusCreated, s.assetJSON(repo, rel, a))
}

// serveStorage serves the short-lived URL the octet-stream redirect points to. Like
// GitHub's storage host it needs no credentials, only the signature in the URL.
func (s *Server) serveStorage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, repo := range s.repos {
		for _, rel := range repo.releases {
			for _, a := range rel.assets {
				if err == nil && a.id == id && r.URL.Query().Get("signature") == a.signature {
					serveBytes(w, a.data)
					return
				}
			}
		}
	}
	w.WriteHeader(http.StatusForbidden)
}

// serveBrowserDownload serves browser_download_url, which works for published releases only.
func (s *Server) serveBrowserDownload(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo := s.repos[r.PathValue("owner")+"/"+r.PathValue("repo")]
	if repo != nil {
		for _, rel := range repo.releases {
			if rel.tag != r.PathValue("tag") || rel.draft {
				continue
			}
			for _, a := range rel.assets {
				if a.name == r.PathValue("name") && a.state == "uploaded" {
					serveBytes(w, a.data)
					return
				}
			}
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

func serveBytes(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}
