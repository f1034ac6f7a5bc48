// Package githubfake is an in-memory GitHub REST API for tests: the release, release
// asset, pull request (open, edit, close, reopen, merge) and issue label and comment
// endpoints that distro's release and upstream tracking code calls, with GitHub's
// documented authentication, status codes and error bodies. It keeps no git
// repositories: a merge records the pull request as merged and changes no branch.
//
// It serves the GitHub Enterprise Server layout, because that is how a client is
// pointed at any host other than api.github.com: the API under /api/v3/ on one
// listener and uploads under /api/uploads/ on a second listener, as GitHub serves
// uploads from a separate host. Every request needs "Authorization: Bearer <token>"
// (or "token <token>"); anything else is 401 Bad credentials.
//
// Downloading an asset through the API with "Accept: application/octet-stream" is
// answered the way GitHub answers it: 302 to a short-lived URL that needs no
// credentials (GitHub's points at its storage host; ours at the API listener under
// /_storage/). Clients must follow that redirect without the Authorization header.
package githubfake

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	apiPrefix     = "/api/v3"
	uploadsPrefix = "/api/uploads"
	storagePrefix = "/_storage"
)

// Server is a running fake. Create it with New; it stops when the test ends.
type Server struct {
	api, uploads *httptest.Server
	token        string

	mu       sync.Mutex
	repos    map[string]*repoState // by "owner/name"
	nextID   int64
	requests []Request
	failing  map[string]bool // asset names whose next upload breaks midway
	corrupt  map[string]bool // asset names whose next upload is stored damaged
}

// Request is one request the fake received, for assertions about where traffic went.
type Request struct {
	Method string
	Host   string // host:port of the listener that served it
	Path   string
	Query  string
}

// New starts a fake that accepts token and has no repositories yet; it stops when the
// test ends.
func New(tb testing.TB, token string) *Server {
	tb.Helper()
	s, err := Start(token)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a fake outside a test, for a benchmark that needs a GitHub to talk to;
// Close stops it.
func Start(token string) (*Server, error) {
	if token == "" {
		return nil, errors.New("githubfake: token must not be empty")
	}
	s := &Server{token: token, repos: map[string]*repoState{}, failing: map[string]bool{}, corrupt: map[string]bool{}}
	s.api = httptest.NewServer(s.record(s.apiHandler()))
	s.uploads = httptest.NewServer(s.record(s.uploadsHandler()))
	return s, nil
}

// Close stops both listeners.
func (s *Server) Close() {
	s.api.Close()
	s.uploads.Close()
}

// APIURL is the REST API base URL, ending in /api/v3/.
func (s *Server) APIURL() string { return s.api.URL + apiPrefix + "/" }

// UploadURL is the upload base URL on the separate upload listener, ending in /api/uploads/.
func (s *Server) UploadURL() string { return s.uploads.URL + uploadsPrefix + "/" }

// APIHost and UploadHost are the listeners' host:port, as recorded in Requests.
func (s *Server) APIHost() string    { return s.api.Listener.Addr().String() }
func (s *Server) UploadHost() string { return s.uploads.Listener.Addr().String() }

// AddRepo creates a repository the token can push to.
func (s *Server) AddRepo(owner, name string) { s.addRepo(owner, name, true) }

// AddReadOnlyRepo creates a repository the token can read but not write.
func (s *Server) AddReadOnlyRepo(owner, name string) { s.addRepo(owner, name, false) }

func (s *Server) addRepo(owner, name string, push bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[owner+"/"+name] = &repoState{owner: owner, name: name, push: push, nextNumber: 1}
}

// FailNextUpload makes the next upload of an asset with this name break midway: the
// fake answers 502 and keeps an incomplete asset in state "starter", which is what an
// interrupted upload leaves behind on GitHub.
func (s *Server) FailNextUpload(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[name] = true
}

// CorruptNextUpload makes the next upload of an asset with this name succeed while
// storing other bytes than were sent, so clients can prove they verify uploads.
func (s *Server) CorruptNextUpload(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt[name] = true
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery})
		s.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// authenticated answers 401 Bad credentials unless the request carries the token.
func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "token")) || tok != s.token {
			writeError(w, http.StatusUnauthorized, "Bad credentials")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) apiHandler() http.Handler {
	api := http.NewServeMux()
	route := func(pattern string, h func(http.ResponseWriter, *http.Request, *repoState)) {
		method, path, _ := strings.Cut(pattern, " ")
		api.HandleFunc(method+" "+apiPrefix+"/repos/{owner}/{repo}"+path, s.withRepo(h))
	}
	route("GET ", s.getRepo)
	route("GET /releases", s.listReleases)
	route("POST /releases", s.createRelease)
	route("GET /releases/{id}", s.getRelease)
	route("PATCH /releases/{id}", s.editRelease)
	route("GET /releases/{first}/{second}", s.releaseSubresource)
	route("DELETE /releases/assets/{id}", s.deleteAsset)
	route("GET /pulls", s.listPulls)
	route("POST /pulls", s.createPull)
	route("GET /pulls/{number}", s.getPull)
	route("PATCH /pulls/{number}", s.editPull)
	route("PUT /pulls/{number}/merge", s.mergePull)
	route("POST /issues/{number}/labels", s.addLabels)
	route("DELETE /issues/{number}/labels/{name}", s.removeLabel)
	route("POST /issues/{number}/comments", s.createComment)
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, http.StatusNotFound, "Not Found") })

	// Outside /api/v3/ the listener plays GitHub's web and storage hosts, which need
	// no API credentials.
	public := http.NewServeMux()
	public.HandleFunc("GET "+storagePrefix+"/{id}", s.serveStorage)
	public.HandleFunc("GET /{owner}/{repo}/releases/download/{tag}/{name}", s.serveBrowserDownload)
	public.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, http.StatusNotFound, "Not Found") })

	authenticatedAPI := s.authenticated(api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, apiPrefix+"/") {
			authenticatedAPI.ServeHTTP(w, r)
			return
		}
		public.ServeHTTP(w, r)
	})
}

func (s *Server) uploadsHandler() http.Handler {
	up := http.NewServeMux()
	up.HandleFunc("POST "+uploadsPrefix+"/repos/{owner}/{repo}/releases/{id}/assets", s.withRepo(s.uploadAsset))
	up.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, http.StatusNotFound, "Not Found") })
	return s.authenticated(up)
}

// withRepo resolves {owner}/{repo} under the lock, answering 404 for an unknown one
// and 403 for a write to a repository the token cannot push to.
func (s *Server) withRepo(h func(http.ResponseWriter, *http.Request, *repoState)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		repo := s.repos[r.PathValue("owner")+"/"+r.PathValue("repo")]
		if repo == nil {
			writeError(w, http.StatusNotFound, "Not Found")
			return
		}
		if r.Method != http.MethodGet && !repo.push {
			writeError(w, http.StatusForbidden, "Resource not accessible by personal access token")
			return
		}
		h(w, r, repo)
	}
}

func (s *Server) newID() int64 {
	s.nextID++
	return s.nextID
}

func randomSignature() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

func (s *Server) repoURL(repo *repoState) string {
	return fmt.Sprintf("%s%s/repos/%s/%s", s.api.URL, apiPrefix, repo.owner, repo.name)
}

func (s *Server) htmlURL(repo *repoState) string {
	return fmt.Sprintf("%s/%s/%s", s.api.URL, repo.owner, repo.name)
}
