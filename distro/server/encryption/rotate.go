package encryption

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// Rotation replaces the key Secrets are encrypted with, on a running server. The state of a
// rotation is the configuration file itself, so an interrupted one is finished by running it
// again:
//
//  1. Add a new key first in the secretbox provider, keeping the old ones after it: the
//     apiserver encrypts with the first key and decrypts with any. A file that already holds
//     more than one key is a rotation in progress; it is resumed with its first key.
//  2. Wait until the apiserver reports (in /metrics) the hash of exactly this file: from then
//     on every write uses the new key.
//  3. Rewrite every Secret with an unchanged update. The apiserver notices the stored value was
//     encrypted with a key that is not the first and writes it again with the first. A conflict
//     or a deletion in between means someone else wrote it after step 2, which is as good.
//  4. Drop every key but the first and wait for the apiserver to load that file too.
//
// Only this server's file is changed: with several servers, each needs the same file.
type Rotation struct {
	// File is the encryption configuration the apiserver was started with.
	File   string
	Client kubernetes.Interface
	// Progress receives one line per step.
	Progress func(format string, args ...any)
	// ReloadTimeout bounds each wait for the apiserver; it re-reads the file once a minute.
	ReloadTimeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Run performs or resumes the rotation and returns the name of the new key.
func (r *Rotation) Run(ctx context.Context) (string, error) {
	if r.Progress == nil {
		r.Progress = func(string, ...any) {}
	}
	if r.ReloadTimeout == 0 {
		r.ReloadTimeout = 3 * time.Minute
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	// Talk to the apiserver before touching the file: without it the rotation cannot finish.
	if _, err := r.Client.Discovery().ServerVersion(); err != nil {
		return "", fmt.Errorf("the apiserver is not reachable (rotation needs a running server): %w", err)
	}

	cfg, box, err := r.load()
	if err != nil {
		return "", err
	}
	if len(box.Keys) > 1 {
		r.Progress("resuming the rotation to key %s (the file still holds %d keys)", box.Keys[0].Name, len(box.Keys))
	} else {
		key, err := newKey(r.Now(), box.Keys)
		if err != nil {
			return "", err
		}
		box.Keys = append([]apiserverv1.Key{key}, box.Keys...)
		if err := r.write(cfg); err != nil {
			return "", err
		}
		r.Progress("step 1/4: added key %s first in %s; older keys kept for reading", key.Name, r.File)
	}
	newName := box.Keys[0].Name
	if err := r.waitLoaded(ctx); err != nil {
		return "", err
	}
	r.Progress("step 2/4: the apiserver encrypts with %s", newName)

	n, err := r.rewriteSecrets(ctx)
	if err != nil {
		return "", err
	}
	r.Progress("step 3/4: rewrote %d Secrets with %s", n, newName)

	dropped := len(box.Keys) - 1
	box.Keys = box.Keys[:1]
	if err := r.write(cfg); err != nil {
		return "", err
	}
	if err := r.waitLoaded(ctx); err != nil {
		return "", err
	}
	r.Progress("step 4/4: dropped %d old keys; %s is the only key", dropped, newName)
	return newName, nil
}

// load reads the file and returns it with its secretbox provider, which must come first.
func (r *Rotation) load() (*apiserverv1.EncryptionConfiguration, *apiserverv1.SecretboxConfiguration, error) {
	data, err := os.ReadFile(r.File)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", r.File, err)
	}
	first := secretsProviders(cfg)[0]
	if first.Secretbox == nil || len(first.Secretbox.Keys) == 0 {
		kind, _ := describe(first)
		return nil, nil, fmt.Errorf("%s: Secrets are encrypted by a %s provider; rotate rotates secretbox keys only", r.File, kind)
	}
	return cfg, first.Secretbox, nil
}

func (r *Rotation) write(cfg *apiserverv1.EncryptionConfiguration) error {
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(r.File, append(out, '\n'), 0o600)
}

// waitLoaded waits until the apiserver runs the file as it is now.
func (r *Rotation) waitLoaded(ctx context.Context) error {
	data, err := os.ReadFile(r.File)
	if err != nil {
		return err
	}
	hash := contentHash(data)
	ctx, cancel := context.WithTimeout(ctx, r.ReloadTimeout)
	defer cancel()
	client := r.Client.Discovery().RESTClient()
	var last error
	for {
		ok, err := Loaded(ctx, client, hash)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the apiserver did not load %s (%s) within %s (run rotate again to resume): %v", r.File, hash, r.ReloadTimeout, last)
		case <-time.After(2 * time.Second):
		}
	}
}

// rewriteSecrets updates every Secret unchanged, page by page.
func (r *Rotation) rewriteSecrets(ctx context.Context) (int, error) {
	secrets := r.Client.CoreV1().Secrets(metav1.NamespaceAll)
	n := 0
	opts := metav1.ListOptions{Limit: 250}
	for {
		list, err := secrets.List(ctx, opts)
		if err != nil {
			return n, fmt.Errorf("list Secrets: %w", err)
		}
		for i := range list.Items {
			s := &list.Items[i]
			_, err := r.Client.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
			switch {
			case err == nil:
				n++
			case apierrors.IsConflict(err), apierrors.IsNotFound(err):
				// written or deleted by someone else since the new key took effect
			default:
				return n, fmt.Errorf("rewrite Secret %s/%s (run rotate again to resume): %w", s.Namespace, s.Name, err)
			}
		}
		if list.Continue == "" {
			return n, nil
		}
		opts.Continue = list.Continue
	}
}

// newKey returns a random 32-byte secretbox key named after now, unlike any in existing.
func newKey(now time.Time, existing []apiserverv1.Key) (apiserverv1.Key, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return apiserverv1.Key{}, err
	}
	base := keyName(now)
	name := base
	for i := 2; slices.ContainsFunc(existing, func(k apiserverv1.Key) bool { return k.Name == name }); i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return apiserverv1.Key{Name: name, Secret: base64.StdEncoding.EncodeToString(secret)}, nil
}

func keyName(now time.Time) string { return "secretbox-" + now.UTC().Format("20060102T150405Z") }
