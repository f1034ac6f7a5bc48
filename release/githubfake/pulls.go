package githubfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

type branchJSON struct {
	Label string `json:"label"` // "owner:branch"
	Ref   string `json:"ref"`
}

type labelJSON struct {
	Name string `json:"name"`
}

type pullJSON struct {
	ID        int64       `json:"id"`
	Number    int         `json:"number"`
	URL       string      `json:"url"`
	HTMLURL   string      `json:"html_url"`
	State     string      `json:"state"`
	Title     string      `json:"title"`
	Body      string      `json:"body"`
	Head      branchJSON  `json:"head"`
	Base      branchJSON  `json:"base"`
	Labels    []labelJSON `json:"labels"`
	CreatedAt time.Time   `json:"created_at"`
	ClosedAt  *time.Time  `json:"closed_at"`
	MergedAt  *time.Time  `json:"merged_at"`
}

type commentJSON struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	HTMLURL   string    `json:"html_url"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// optionalTime is nil for the zero time, as GitHub writes null for what has not happened.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Server) pullJSON(repo *repoState, p *pullState) pullJSON {
	out := pullJSON{
		ID: int64(p.number), Number: p.number,
		URL:     fmt.Sprintf("%s/pulls/%d", s.repoURL(repo), p.number),
		HTMLURL: fmt.Sprintf("%s/pull/%d", s.htmlURL(repo), p.number),
		State:   p.state, Title: p.title, Body: p.body,
		Head:      branchJSON{Label: p.head, Ref: p.head[strings.Index(p.head, ":")+1:]},
		Base:      branchJSON{Label: repo.owner + ":" + p.base, Ref: p.base},
		Labels:    []labelJSON{},
		CreatedAt: p.createdAt,
		ClosedAt:  optionalTime(p.closedAt),
		MergedAt:  optionalTime(p.mergedAt),
	}
	for _, l := range p.labels {
		out.Labels = append(out.Labels, labelJSON{Name: l})
	}
	return out
}

// qualifiedHead spells a head branch as "owner:branch"; a bare branch is in this repository.
func qualifiedHead(repo *repoState, head string) string {
	if strings.Contains(head, ":") {
		return head
	}
	return repo.owner + ":" + head
}

func (s *Server) listPulls(w http.ResponseWriter, r *http.Request, repo *repoState) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	all := []pullJSON{}
	for _, p := range slices.Backward(repo.pulls) { // newest first
		if state != "all" && p.state != state ||
			q.Get("head") != "" && p.head != q.Get("head") ||
			q.Get("base") != "" && p.base != q.Get("base") {
			continue
		}
		all = append(all, s.pullJSON(repo, p))
	}
	writeJSON(w, http.StatusOK, paginate(w, r, all))
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request, repo *repoState) {
	var in struct {
		Title, Head, Base, Body string
	}
	if !decodeBody(w, r, &in) {
		return
	}
	for field, v := range map[string]string{"title": in.Title, "head": in.Head, "base": in.Base} {
		if v == "" {
			writeValidation(w, fieldError{Resource: "PullRequest", Code: "missing_field", Field: field})
			return
		}
	}
	head := qualifiedHead(repo, in.Head)
	for _, p := range repo.pulls {
		if p.state == "open" && p.head == head && p.base == in.Base {
			writeValidation(w, fieldError{Resource: "PullRequest", Code: "custom", Message: "A pull request already exists for " + head + "."})
			return
		}
	}
	p := &pullState{number: repo.nextNumber, title: in.Title, body: in.Body, head: head, base: in.Base, state: "open", createdAt: now()}
	repo.nextNumber++
	repo.pulls = append(repo.pulls, p)
	writeJSON(w, http.StatusCreated, s.pullJSON(repo, p))
}

func findPull(w http.ResponseWriter, r *http.Request, repo *repoState) *pullState {
	n, err := strconv.Atoi(r.PathValue("number"))
	if err == nil {
		for _, p := range repo.pulls {
			if p.number == n {
				return p
			}
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
	return nil
}

func (s *Server) getPull(w http.ResponseWriter, r *http.Request, repo *repoState) {
	if p := findPull(w, r, repo); p != nil {
		writeJSON(w, http.StatusOK, s.pullJSON(repo, p))
	}
}

func (s *Server) editPull(w http.ResponseWriter, r *http.Request, repo *repoState) {
	p := findPull(w, r, repo)
	if p == nil {
		return
	}
	var in struct {
		Title, Body, State, Base *string
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if in.State != nil && *in.State != "open" && *in.State != "closed" {
		writeValidation(w, fieldError{Resource: "PullRequest", Code: "invalid", Field: "state"})
		return
	}
	if in.State != nil && *in.State != p.state {
		// GitHub refuses to reopen a merged pull request, and one whose branch has another
		// open pull request into the same base.
		if !p.mergedAt.IsZero() {
			writeValidation(w, fieldError{Resource: "PullRequest", Code: "custom", Field: "state", Message: "state cannot be changed. The pull request has already been merged."})
			return
		}
		if *in.State == "open" {
			base := p.base
			if in.Base != nil {
				base = *in.Base
			}
			for _, o := range repo.pulls {
				if o != p && o.state == "open" && o.head == p.head && o.base == base {
					writeValidation(w, fieldError{Resource: "PullRequest", Code: "custom", Message: "A pull request already exists for " + p.head + "."})
					return
				}
			}
			p.closedAt = time.Time{}
		} else {
			p.closedAt = now()
		}
	}
	for dst, src := range map[*string]*string{&p.title: in.Title, &p.body: in.Body, &p.state: in.State, &p.base: in.Base} {
		if src != nil {
			*dst = *src
		}
	}
	writeJSON(w, http.StatusOK, s.pullJSON(repo, p))
}

// mergePull records an open pull request as merged (and closed), as GitHub answers a
// merge; there are no branches here to change. A closed one is 405 Method Not Allowed.
func (s *Server) mergePull(w http.ResponseWriter, r *http.Request, repo *repoState) {
	p := findPull(w, r, repo)
	if p == nil {
		return
	}
	if p.state != "open" {
		writeError(w, http.StatusMethodNotAllowed, "Pull Request is not mergeable")
		return
	}
	p.state, p.closedAt, p.mergedAt = "closed", now(), now()
	writeJSON(w, http.StatusOK, map[string]any{"sha": fmt.Sprintf("%040x", p.number), "merged": true, "message": "Pull Request successfully merged"})
}

// removeLabel answers with the labels left on the issue, or 404 Label does not exist.
func (s *Server) removeLabel(w http.ResponseWriter, r *http.Request, repo *repoState) {
	p := findPull(w, r, repo)
	if p == nil {
		return
	}
	i := slices.Index(p.labels, r.PathValue("name"))
	if i < 0 {
		writeError(w, http.StatusNotFound, "Label does not exist")
		return
	}
	p.labels = slices.Delete(p.labels, i, i+1)
	writeJSON(w, http.StatusOK, s.pullJSON(repo, p).Labels)
}

// createComment adds a comment to a pull request's conversation (the issue comments
// endpoint, which GitHub uses for pull requests too).
func (s *Server) createComment(w http.ResponseWriter, r *http.Request, repo *repoState) {
	p := findPull(w, r, repo)
	if p == nil {
		return
	}
	var in struct{ Body string }
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Body == "" {
		writeValidation(w, fieldError{Resource: "IssueComment", Code: "missing_field", Field: "body"})
		return
	}
	c := commentState{id: s.newID(), body: in.Body, createdAt: now()}
	p.comments = append(p.comments, c)
	writeJSON(w, http.StatusCreated, commentJSON{
		ID:        c.id,
		URL:       fmt.Sprintf("%s/issues/comments/%d", s.repoURL(repo), c.id),
		HTMLURL:   fmt.Sprintf("%s/pull/%d#issuecomment-%d", s.htmlURL(repo), p.number, c.id),
		Body:      c.body,
		CreatedAt: c.createdAt,
	})
}

// addLabels takes either a JSON array of names or {"labels": [...]}, both of which
// GitHub documents, and answers with every label now on the issue.
func (s *Server) addLabels(w http.ResponseWriter, r *http.Request, repo *repoState) {
	p := findPull(w, r, repo)
	if p == nil {
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	var names []string
	if json.Unmarshal(raw, &names) != nil {
		var obj struct{ Labels []string }
		if json.Unmarshal(raw, &obj) != nil {
			writeError(w, http.StatusBadRequest, "Problems parsing JSON")
			return
		}
		names = obj.Labels
	}
	for _, n := range names {
		if !slices.Contains(p.labels, n) {
			p.labels = append(p.labels, n)
		}
	}
	writeJSON(w, http.StatusOK, s.pullJSON(repo, p).Labels)
}
