package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/klog/v2"

	agentcontainerd "github.com/distro-io/distro/distro/agent/containerd"
)

// Error codes of the OCI distribution spec this mirror answers with.
const (
	codeBlobUnknown     = "BLOB_UNKNOWN"
	codeManifestUnknown = "MANIFEST_UNKNOWN"
	codeNameUnknown     = "NAME_UNKNOWN"
	codeNameInvalid     = "NAME_INVALID"
	codeDigestInvalid   = "DIGEST_INVALID"
	codeUnsupported     = "UNSUPPORTED"
	codeUnknown         = "UNKNOWN"
)

// blobContentType is what registries give every blob, whatever it holds.
const blobContentType = "application/octet-stream"

// Handler serves the read-only part of the OCI distribution API (the API root, manifests and
// blobs) from containerd's image and content stores, in the CRI namespace.
type Handler struct {
	images  images.Store
	content content.Provider
	served  func() map[string]digest.Digest
}

// NewHandler returns a handler that serves the images served returns (name to target digest)
// while containerd holds them with that target, and the content they reference.
func NewHandler(imageStore images.Store, provider content.Provider, served func() map[string]digest.Digest) *Handler {
	return &Handler{images: imageStore, content: provider, served: served}
}

// apiError is an answer of the distribution API's error format.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func notFound(code, format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: codeUnsupported, message: "this registry mirror is read-only"})
		return
	}
	if r.URL.Path == "/v2/" || r.URL.Path == "/v2" {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
		return
	}
	ctx := namespaces.WithNamespace(r.Context(), agentcontainerd.Namespace)
	req, err := parse(r)
	if err == nil {
		err = h.serve(ctx, w, r, req)
	}
	if err != nil {
		writeError(w, err)
	}
}

// request is a parsed /v2/<name>/<kind>/<reference>.
type request struct {
	repo reference.Named // the registry (from ns) and the name, normalized
	kind string          // manifests or blobs
	ref  string          // a tag or a digest
}

// unknown is the error code of an object of the request's kind that is not held here.
func (req request) unknown() string {
	if req.kind == "manifests" {
		return codeManifestUnknown
	}
	return codeBlobUnknown
}

// parse reads the repository, the kind of object and its reference from r. containerd names
// the registry a request is for in the ns query parameter; a request without one is for this
// host.
func parse(r *http.Request) (request, error) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	// <name> may hold slashes; <kind> and <reference> do not.
	rest, ref := cutLast(rest, "/")
	name, kind := cutLast(rest, "/")
	if !ok || name == "" || ref == "" || kind != "manifests" && kind != "blobs" {
		return request{}, notFound(codeUnsupported, "%s is not served by this read-only mirror", r.URL.Path)
	}
	ns := r.URL.Query().Get("ns")
	if ns == "" {
		ns = r.Host
	}
	repo, err := reference.ParseNormalizedNamed(ns + "/" + name)
	// A name without a registry is docker.io's to ParseNormalizedNamed: ns must stay the registry.
	if err != nil || !reference.IsNameOnly(repo) || reference.Domain(repo) != ns {
		return request{}, badRequest(codeNameInvalid, "%q is not a repository of registry %q", name, ns)
	}
	return request{repo: repo, kind: kind, ref: ref}, nil
}

// cutLast slices s around its last sep; before is empty when there is none.
func cutLast(s, sep string) (before, after string) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):]
	}
	return "", s
}

// serve answers req with the content it names, streamed from the content store: ServeContent
// answers HEAD and Range requests and sets Content-Length.
func (h *Handler) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, req request) error {
	desc, err := h.lookup(ctx, req)
	if err != nil {
		return err
	}
	contentType := blobContentType
	if req.kind == "manifests" {
		// As stored, whatever Accept says: there is no other form to convert to, and
		// containerd accepts every manifest and index type.
		contentType = desc.MediaType
	}
	ra, err := h.content.ReaderAt(ctx, desc)
	if errdefs.IsNotFound(err) {
		return notFound(req.unknown(), "%s is not in the content store", desc.Digest)
	}
	if err != nil {
		return err
	}
	defer ra.Close()
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Docker-Content-Digest", desc.Digest.String())
	w.Header().Set("Etag", `"`+desc.Digest.String()+`"`)
	http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(ra, 0, ra.Size()))
	return nil
}

// lookup finds the descriptor req names: a tag among the repository's served images, a
// digest among the content they reference.
func (h *Handler) lookup(ctx context.Context, req request) (ocispec.Descriptor, error) {
	// A tag has no colon; a digest always has one.
	isTag := req.kind == "manifests" && !strings.Contains(req.ref, ":")
	var dgst digest.Digest
	if !isTag {
		var err error
		if dgst, err = digest.Parse(req.ref); err != nil {
			return ocispec.Descriptor{}, badRequest(codeDigestInvalid, "%q: %v", req.ref, err)
		}
	}
	imgs, err := h.repoImages(ctx, req.repo)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if len(imgs) == 0 {
		return ocispec.Descriptor{}, notFound(codeNameUnknown, "%s is not held on this node", req.repo)
	}
	if isTag {
		for _, img := range imgs {
			if t, ok := img.named.(reference.Tagged); ok && t.Tag() == req.ref {
				return img.Target, nil
			}
		}
		return ocispec.Descriptor{}, notFound(codeManifestUnknown, "%s:%s is not held on this node", req.repo, req.ref)
	}
	desc, found, err := h.find(ctx, imgs, dgst)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if !found || req.kind == "manifests" && !images.IsManifestType(desc.MediaType) && !images.IsIndexType(desc.MediaType) {
		return ocispec.Descriptor{}, notFound(req.unknown(), "%s@%s is not held on this node", req.repo, dgst)
	}
	return desc, nil
}

// servedImage is an image of the store with its name parsed.
type servedImage struct {
	images.Image
	named reference.Named
}

// repoImages returns the served images of repo that containerd holds with the target they
// were served with, sorted by name.
func (h *Handler) repoImages(ctx context.Context, repo reference.Named) ([]servedImage, error) {
	var out []servedImage
	for name, target := range h.served() {
		named, err := reference.ParseNormalizedNamed(name)
		if err != nil || named.Name() != repo.Name() {
			continue
		}
		img, err := h.images.Get(ctx, name)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		// Replaced since, by a pull from its registry: that registry decides who gets it.
		if img.Target.Digest != target {
			continue
		}
		out = append(out, servedImage{Image: img, named: named})
	}
	slices.SortFunc(out, func(a, b servedImage) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// errFound ends a walk at the descriptor looked for.
var errFound = errors.New("found")

// find looks for dgst among the content the images reference (indexes, manifests, configs,
// layers), so a repository serves its own content only, and returns its descriptor.
func (h *Handler) find(ctx context.Context, imgs []servedImage, dgst digest.Digest) (ocispec.Descriptor, bool, error) {
	var found ocispec.Descriptor
	walk := images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if desc.Digest == dgst {
			found = desc
			return nil, errFound
		}
		children, err := images.Children(ctx, h.content, desc)
		if errdefs.IsNotFound(err) {
			// Another platform's manifest, which the node never fetched.
			return nil, images.ErrSkipDesc
		}
		return children, err
	})
	for _, img := range imgs {
		err := images.Walk(ctx, walk, img.Target)
		if errors.Is(err, errFound) {
			return found, true, nil
		}
		if err != nil {
			return ocispec.Descriptor{}, false, fmt.Errorf("walking image %s: %w", img.Name, err)
		}
	}
	return ocispec.Descriptor{}, false, nil
}

// writeError answers with err in the distribution API's error format; an error that is not an
// apiError is the mirror's own failure.
func writeError(w http.ResponseWriter, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		klog.ErrorS(err, "Registry mirror failed a request")
		e = &apiError{status: http.StatusInternalServerError, code: codeUnknown, message: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	type entry struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	json.NewEncoder(w).Encode(struct {
		Errors []entry `json:"errors"`
	}{[]entry{{Code: e.code, Message: e.message}}})
}
