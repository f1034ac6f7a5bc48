package bootstrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/pki/atomicfile"
	"github.com/distro-io/distro/distro/server/encryption"
	"github.com/distro-io/distro/distro/token"
)

// File is one file every server of a cluster holds alike.
type File struct {
	// Name is the path under <data-dir>/server, slash separated: the file's key in Data.
	Name string
	// Path is where the file is on this server.
	Path string
	Mode fs.FileMode
}

// Files lists the shared files under dataDir: the three CAs with their keys, the
// service-account key pair, the encryption configuration, and the server and node tokens
// (which follow from the CA and the shared secrets, so agents join through any server).
// Everything else, each server makes for itself: its serving certificate, its components'
// client certificates and kubeconfigs.
func Files(dataDir string) []File {
	l := pki.NewLayout(dataDir)
	const secret, public = 0o600, 0o644
	paths := []struct {
		path string
		mode fs.FileMode
	}{
		{l.CertFile(pki.ServerCA), public}, {l.KeyFile(pki.ServerCA), secret},
		{l.CertFile(pki.ClientCA), public}, {l.KeyFile(pki.ClientCA), secret},
		{l.CertFile(pki.RequestHeaderCA), public}, {l.KeyFile(pki.RequestHeaderCA), secret},
		{l.ServiceAccountKey(), secret}, {l.ServiceAccountPub(), public},
		{encryption.File(dataDir), secret},
		{token.ServerTokenFile(dataDir), secret},
		{token.NodeTokenFile(dataDir), secret},
	}
	serverDir := filepath.Join(dataDir, "server")
	out := make([]File, 0, len(paths))
	for _, p := range paths {
		rel, err := filepath.Rel(serverDir, p.path)
		if err != nil || strings.HasPrefix(rel, "..") {
			panic(fmt.Sprintf("bootstrap: %s is not under %s", p.path, serverDir))
		}
		out = append(out, File{Name: filepath.ToSlash(rel), Path: p.path, Mode: p.mode})
	}
	return out
}

// serverCAName is the Name of the server CA's certificate, which the join token pins.
func serverCAName(files []File) string { return files[0].Name }

// Data is the content of the shared files, by Name.
type Data map[string][]byte

// payload is the plaintext Seal protects.
type payload struct {
	Files Data `json:"files"`
}

func (d Data) encode() ([]byte, error) { return json.Marshal(payload{Files: d}) }

func decode(plaintext []byte) (Data, error) {
	var p payload
	if err := json.Unmarshal(plaintext, &p); err != nil {
		return nil, fmt.Errorf("the decrypted bootstrap data is not readable: %w", err)
	}
	return p.Files, nil
}

// Collect reads every shared file; the first server has made them all before it publishes.
func Collect(files []File) (Data, error) {
	d := Data{}
	for _, f := range files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("collecting the bootstrap data: %w", err)
		}
		d[f.Name] = data
	}
	return d, nil
}

// ConflictError lists the files on disk that differ from the cluster's bootstrap data.
type ConflictError struct {
	Paths []string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("refusing to overwrite %s: this data dir holds other files than the cluster's bootstrap data in the datastore, "+
		"so it belongs to another cluster (or the datastore does); nothing was changed. Move the data dir aside to join the "+
		"datastore's cluster, or point --datastore-endpoint at this data dir's own datastore", strings.Join(e.Paths, ", "))
}

// Reconcile makes the shared files on disk hold d. Files already there must be byte for byte
// what d holds: if any differs, Reconcile writes nothing and returns a *ConflictError naming
// them. Missing files are written. It returns the paths it wrote.
func Reconcile(files []File, d Data) ([]string, error) {
	var missingData, conflicts, absent []string
	for _, f := range files {
		want, ok := d[f.Name]
		if !ok || len(want) == 0 {
			missingData = append(missingData, f.Name)
			continue
		}
		have, err := os.ReadFile(f.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			absent = append(absent, f.Path)
		case err != nil:
			return nil, err
		case !bytes.Equal(have, want):
			conflicts = append(conflicts, f.Path)
		}
	}
	if len(missingData) > 0 {
		return nil, fmt.Errorf("the cluster's bootstrap data lacks %s (written by an older or damaged server?); nothing was changed", strings.Join(missingData, ", "))
	}
	if len(conflicts) > 0 {
		return nil, &ConflictError{Paths: conflicts}
	}
	var written []string
	for _, f := range files {
		if !slices.Contains(absent, f.Path) {
			continue
		}
		if err := atomicfile.Create(f.Path, d[f.Name], f.Mode); err != nil {
			return written, fmt.Errorf("writing the cluster's bootstrap data: %w", err)
		}
		written = append(written, f.Path)
	}
	return written, nil
}
