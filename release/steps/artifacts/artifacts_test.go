package artifacts

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/pipeline"
)

func TestArtifacts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		absent  bool
		wantErr string
	}{
		{name: "binary", content: "\x7fELF…", mode: 0o755},
		{name: "missing", absent: true, wantErr: "does not exist"},
		{name: "empty", mode: 0o755, wantErr: "is empty"},
		{name: "not executable", content: "x", mode: 0o644, wantErr: "not executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &pipeline.Context{DistDir: t.TempDir()}
			path := filepath.Join(c.DistDir, "distro")
			if !tc.absent {
				if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Step{}.Run(context.Background(), c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if len(c.Artifacts) != 0 {
					t.Errorf("artifacts %v added despite the error", c.Artifacts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Artifacts) != 1 || c.Artifacts[0] != (pipeline.Artifact{Name: "distro", Path: path}) {
				t.Errorf("artifacts = %+v", c.Artifacts)
			}
			if _, ok := res.(pipeline.Done); !ok {
				t.Errorf("result %#v", res)
			}
		})
	}
}
