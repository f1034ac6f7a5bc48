package bootstrap

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFilesAreTheCAsServiceAccountKeyEncryptionConfigAndTokens(t *testing.T) {
	var names []string
	for _, f := range Files("/var/lib/distro") {
		names = append(names, f.Name)
		if filepath.Join("/var/lib/distro/server", filepath.FromSlash(f.Name)) != f.Path {
			t.Errorf("%s is not at its name under the server dir: %s", f.Name, f.Path)
		}
		if public := filepath.Ext(f.Path) == ".crt" || filepath.Ext(f.Path) == ".pub"; public != (f.Mode == 0o644) {
			t.Errorf("%s has mode %v", f.Name, f.Mode)
		}
	}
	want := []string{
		"tls/server-ca.crt", "tls/server-ca.key", "tls/client-ca.crt", "tls/client-ca.key",
		"tls/request-header-ca.crt", "tls/request-header-ca.key", "tls/service-account.key", "tls/service-account.pub",
		"cred/encryption-config.json", "token", "node-token",
	}
	if !slices.Equal(names, want) {
		t.Errorf("shared files:\n got %q\nwant %q", names, want)
	}
	if serverCAName(Files("/x")) != "tls/server-ca.crt" {
		t.Error("the server CA is not the first shared file")
	}
}

// testData is content for every shared file.
func testData(tag string) Data {
	d := Data{}
	for _, f := range Files("/unused") {
		d[f.Name] = []byte(tag + " " + f.Name + "\n")
	}
	return d
}

func writeAll(t *testing.T, dataDir string, d Data) {
	t.Helper()
	for _, f := range Files(dataDir) {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.Path, d[f.Name], f.Mode); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot is every file under dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			data, _ := os.ReadFile(path)
			out[path] = string(data)
		}
		return nil
	})
	return out
}

func TestReconcileWritesMissingFilesWithTheirModes(t *testing.T) {
	dir := t.TempDir()
	files := Files(dir)
	d := testData("cluster")
	written, err := Reconcile(files, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != len(files) {
		t.Errorf("wrote %d files, want %d", len(written), len(files))
	}
	for _, f := range files {
		st, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.Mode {
			t.Errorf("%s: mode %v, want %v", f.Path, st.Mode().Perm(), f.Mode)
		}
		if got, _ := os.ReadFile(f.Path); string(got) != string(d[f.Name]) {
			t.Errorf("%s holds %q", f.Path, got)
		}
	}
	// Again: everything matches, nothing is written.
	if written, err := Reconcile(files, d); err != nil || len(written) != 0 {
		t.Errorf("second reconcile: wrote %v, %v", written, err)
	}
	// One file lost: only it comes back.
	os.Remove(files[9].Path)
	if written, err := Reconcile(files, d); err != nil || !slices.Equal(written, []string{files[9].Path}) {
		t.Errorf("after losing %s: wrote %v, %v", files[9].Name, written, err)
	}
}

func TestReconcileRefusesToOverwriteAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	files := Files(dir)
	writeAll(t, dir, testData("cluster"))
	// This data dir belongs to another cluster in one file (the service-account key) and lacks
	// another (the node token).
	os.WriteFile(files[6].Path, []byte("another cluster's key"), 0o600)
	os.Remove(files[10].Path)
	before := snapshot(t, dir)

	written, err := Reconcile(files, testData("cluster"))
	var conflict *ConflictError
	if !errors.As(err, &conflict) || !slices.Equal(conflict.Paths, []string{files[6].Path}) {
		t.Fatalf("Reconcile: %v, want a conflict on %s", err, files[6].Path)
	}
	if len(written) != 0 {
		t.Errorf("wrote %v despite the conflict", written)
	}
	if after := snapshot(t, dir); !maps.Equal(before, after) {
		t.Errorf("the data dir changed despite the conflict")
	}
	t.Log(err)
}

func TestReconcileRefusesIncompleteData(t *testing.T) {
	dir := t.TempDir()
	d := testData("cluster")
	delete(d, "tls/client-ca.key")
	if _, err := Reconcile(Files(dir), d); err == nil {
		t.Fatal("data without the client CA key was accepted")
	}
	if got := snapshot(t, dir); len(got) != 0 {
		t.Errorf("files were written: %v", got)
	}
}
