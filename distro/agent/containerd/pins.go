package containerd

import (
	"context"
	"errors"
	"fmt"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/opencontainers/go-digest"
	"k8s.io/klog/v2"
)

// A CRI pull of an image the archives hold (imagePullPolicy Always, served by the node's
// registry mirror) rewrites the image record with CRI's own labels, which carry no pin, and
// the kubelet's image GC may then remove the image, which no registry can give back.
// keepPinned puts the pin back on every archived image whose target is still the imported
// one: once when it starts, then after every image event, until ctx ends.
func keepPinned(ctx context.Context, client *containerd.Client, archived map[string]digest.Digest) {
	ctx = namespaces.WithNamespace(ctx, Namespace)
	for {
		err := watchPins(ctx, client, archived)
		if ctx.Err() != nil {
			return
		}
		klog.ErrorS(err, "Keeping the airgap images pinned: watching image events failed; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// watchPins subscribes to image events, re-pins every archived image, then re-pins each one
// an event names, until the subscription fails or ctx ends. Subscribing before the sweep
// leaves no gap in which a change goes unseen.
func watchPins(ctx context.Context, client *containerd.Client, archived map[string]digest.Digest) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	envelopes, errs := client.EventService().Subscribe(ctx,
		fmt.Sprintf(`namespace==%q,topic=="/images/create"`, Namespace),
		fmt.Sprintf(`namespace==%q,topic=="/images/update"`, Namespace))
	store := client.ImageService()
	for name := range archived {
		if err := repin(ctx, store, name, archived[name]); err != nil {
			return err
		}
	}
	for {
		select {
		case err := <-errs:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return err
		case e := <-envelopes:
			name, labels, ok := imageEvent(e.Event)
			want, archivedName := archived[name]
			if !ok || !archivedName || labels[LabelPinned] == pinned {
				continue
			}
			if err := repin(ctx, store, name, want); err != nil {
				return err
			}
		}
	}
}

// imageEvent returns the image name and labels of an image create or update event.
func imageEvent(event typeurl.Any) (string, map[string]string, bool) {
	if event == nil {
		return "", nil, false
	}
	v, err := typeurl.UnmarshalAny(event)
	if err != nil {
		return "", nil, false
	}
	switch e := v.(type) {
	case *eventstypes.ImageCreate:
		return e.Name, e.Labels, true
	case *eventstypes.ImageUpdate:
		return e.Name, e.Labels, true
	}
	return "", nil, false
}

// repin labels the image name pinned when it still points at the archived target and lacks the
// pin. An image that is gone or now points elsewhere (pulled anew from a registry) is left
// alone: it is no longer the archive's.
func repin(ctx context.Context, store images.Store, name string, target digest.Digest) error {
	img, err := store.Get(ctx, name)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("image %s: %w", name, err)
	}
	if img.Target.Digest != target || img.Labels[LabelPinned] == pinned {
		return nil
	}
	if img.Labels == nil {
		img.Labels = map[string]string{}
	}
	img.Labels[LabelPinned] = pinned
	if _, err := store.Update(ctx, img, "labels."+LabelPinned); err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("pin image %s: %w", name, err)
	}
	klog.InfoS("Pinned an airgap image again after a pull relabelled it", "image", name)
	return nil
}
