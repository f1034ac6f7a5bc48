package images

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/pipeline"
)

func TestImages(t *testing.T) {
	const list = "registry.k8s.io/pause:3.10\nregistry.k8s.io/coredns/coredns:v1.12.0\n"
	for _, tc := range []struct {
		name       string
		files      map[string]string
		wantSkip   bool
		wantErr    string
		wantDetail string
	}{
		{name: "neither", wantSkip: true},
		{name: "both", files: map[string]string{Archive: "zstd data", List: list}, wantDetail: "2 images"},
		{name: "archive only", files: map[string]string{Archive: "zstd data"}, wantErr: "image list must ship"},
		{name: "list only", files: map[string]string{List: list}, wantErr: "names images nobody ships"},
		{name: "empty list", files: map[string]string{Archive: "zstd data", List: "\n"}, wantErr: "names no images"},
		{name: "bad line", files: map[string]string{Archive: "zstd data", List: "a b\n"}, wantErr: ":1:"},
		{name: "empty archive", files: map[string]string{Archive: "", List: list}, wantErr: "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &pipeline.Context{DistDir: t.TempDir()}
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(c.DistDir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Step{}.Run(context.Background(), c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantSkip {
				if s, ok := res.(pipeline.Skipped); !ok || !strings.Contains(s.Reason, "no airgap images") {
					t.Fatalf("result %#v, want a skip saying why", res)
				}
				if len(c.Artifacts) != 0 {
					t.Errorf("artifacts %v", c.Artifacts)
				}
				return
			}
			if d, ok := res.(pipeline.Done); !ok || !strings.Contains(d.Detail, tc.wantDetail) {
				t.Errorf("result %#v", res)
			}
			if len(c.Artifacts) != 2 || c.Artifacts[0].Name != Archive || c.Artifacts[1].Name != List {
				t.Errorf("artifacts %+v", c.Artifacts)
			}
		})
	}
}

func TestNames(t *testing.T) {
	if Archive != "distro-airgap-images-amd64.tar.zst" || List != "distro-images.txt" {
		t.Fatalf("asset names %q, %q", Archive, List)
	}
}
