// Package manifests applies the YAML files in <data-dir>/server/manifests to the cluster: every
// *.yaml (and *.yml) file is server-side applied at start and again whenever its content
// changes, with field manager "distro" and conflicts forced, so the file stays the source of
// truth for the fields it sets. Removing a file leaves its objects in the cluster.
//
// The directory is polled (every two seconds) rather than watched with inotify: polling sees
// files replaced by rename, edited by any editor, or written before the directory existed
// without special cases, and reading a handful of small files costs nothing measurable. A file
// is re-applied only when its content hash changes, or on a retry after a failure.
//
// A document that cannot be read or applied is logged with its file and index, and retried with
// a growing delay; the other documents and files are applied regardless and the server keeps
// running.
package manifests

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/version"
)

// FieldManager owns the fields the manifests set.
const FieldManager = version.Program

// Dir is <data-dir>/server/manifests.
func Dir(dataDir string) string { return filepath.Join(dataDir, "server", "manifests") }

// Config of the deployer.
type Config struct {
	// Dir holds the manifests; created (0700) when missing.
	Dir string
	// Kubeconfig is the identity that applies them.
	Kubeconfig string
	// Interval between scans; two seconds when zero.
	Interval time.Duration
	// Log is klog's logger when zero.
	Log logr.Logger
}

// Deployer is the component that applies the manifests.
type Deployer struct {
	cfg Config
	log logr.Logger

	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper

	// files maps a path to what was last done with its content.
	files map[string]*fileState

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type fileState struct {
	hash [sha256.Size]byte
	// applied is set once every document of this content was applied.
	applied bool
	// retryAt and delay schedule the next attempt after a failure.
	retryAt time.Time
	delay   time.Duration
}

const maxRetryDelay = 2 * time.Minute

var _ component.Component = (*Deployer)(nil)

// New returns the deployer.
func New(cfg Config) *Deployer {
	if cfg.Interval == 0 {
		cfg.Interval = 2 * time.Second
	}
	log := cfg.Log
	if log.GetSink() == nil {
		log = klog.Background().WithName("manifests")
	}
	return &Deployer{cfg: cfg, log: log, files: map[string]*fileState{}}
}

func (d *Deployer) Name() string { return "manifests" }

// Init creates the directory and the clients.
func (d *Deployer) Init(context.Context) error {
	if err := os.MkdirAll(d.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("manifests directory: %w", err)
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", d.cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("manifests: kubeconfig %s: %w", d.cfg.Kubeconfig, err)
	}
	restCfg = rest.CopyConfig(restCfg)
	restCfg.Timeout = 30 * time.Second
	if d.dyn, err = dynamic.NewForConfig(restCfg); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(restCfg)
	if err != nil {
		return err
	}
	d.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return nil
}

// Start scans at once and then every Interval, until Stop.
func (d *Deployer) Start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	d.wg.Go(func() {
		ticker := time.NewTicker(d.cfg.Interval)
		defer ticker.Stop()
		for {
			d.scan(runCtx)
			select {
			case <-runCtx.Done():
				return
			case <-ticker.C:
			}
		}
	})
	return nil
}

// Stop ends the scans and waits for an apply in progress.
func (d *Deployer) Stop(ctx context.Context) error {
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("manifests: still applying when the stop deadline passed: %w", ctx.Err())
	}
}

func (d *Deployer) scan(ctx context.Context) {
	entries, err := os.ReadDir(d.cfg.Dir)
	if err != nil {
		d.log.Error(err, "cannot read the manifests directory", "dir", d.cfg.Dir)
		return
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || (filepath.Ext(name) != ".yaml" && filepath.Ext(name) != ".yml") {
			continue
		}
		path := filepath.Join(d.cfg.Dir, name)
		seen[path] = true
		if ctx.Err() != nil {
			return
		}
		d.visit(ctx, path)
	}
	// A removed file's objects stay; forgetting it makes a file put back apply again.
	for path := range d.files {
		if !seen[path] {
			delete(d.files, path)
		}
	}
}

func (d *Deployer) visit(ctx context.Context, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		d.log.Error(err, "cannot read manifest", "file", path)
		return
	}
	hash := sha256.Sum256(data)
	st := d.files[path]
	switch {
	case st == nil || st.hash != hash:
		st = &fileState{hash: hash, delay: d.cfg.Interval}
		d.files[path] = st
	case st.applied || time.Now().Before(st.retryAt):
		return
	}
	applied, errs := d.apply(ctx, path, data)
	if len(errs) == 0 {
		st.applied = true
		d.log.Info("applied manifest", "file", path, "objects", applied)
		return
	}
	for _, err := range errs {
		var de *DocumentError
		if errors.As(err, &de) {
			d.log.Error(de.Err, "manifest document not applied", "file", de.File, "document", de.Index, "object", de.Object, "retryIn", st.delay)
		} else {
			d.log.Error(err, "manifest not applied", "file", path, "retryIn", st.delay)
		}
	}
	st.retryAt = time.Now().Add(st.delay)
	st.delay = min(2*st.delay, maxRetryDelay)
}

// apply applies every readable document of a file and returns how many were applied and the
// errors of the others.
func (d *Deployer) apply(ctx context.Context, path string, data []byte) (int, []error) {
	docs, err := Parse(path, data)
	var errs []error
	if err != nil {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			errs = append(errs, joined.Unwrap()...)
		} else {
			errs = append(errs, err)
		}
	}
	applied := 0
	for _, doc := range docs {
		if ctx.Err() != nil {
			return applied, append(errs, ctx.Err())
		}
		if err := d.applyObject(ctx, doc.Object); err != nil {
			errs = append(errs, &DocumentError{File: path, Index: doc.Index, Object: describeObject(doc.Object), Err: err})
			continue
		}
		applied++
	}
	return applied, errs
}

func (d *Deployer) applyObject(ctx context.Context, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	mapping, err := d.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// A kind defined by a CRD applied moments ago: look again.
		d.mapper.Reset()
		mapping, err = d.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return err
	}
	var client dynamic.ResourceInterface = d.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = metav1.NamespaceDefault
			obj.SetNamespace(ns)
		}
		client = d.dyn.Resource(mapping.Resource).Namespace(ns)
	} else if obj.GetNamespace() != "" {
		return fmt.Errorf("%s is cluster-scoped but the document sets namespace %q", gvk.Kind, obj.GetNamespace())
	}
	_, err = client.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	return err
}
