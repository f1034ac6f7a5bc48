package version

import (
	"context"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/pipeline/pipelinetest"
)

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tags     []string
		revision int // rewrites upstream.lock's revision when not 0
		step     Step
		want     string
		wantErr  string
	}{
		{name: "first release", want: "v1.37.2+distro1"},
		{name: "after a release, lock bumped", tags: []string{"v1.37.2+distro1"}, revision: 2, want: "v1.37.2+distro2"},
		{name: "after a release, lock not bumped", tags: []string{"v1.37.2+distro1"}, wantErr: "set revision: 2 in upstream.lock"},
		{name: "candidate", tags: []string{"v1.37.2-rc1+distro1"}, step: Step{Candidate: true}, want: "v1.37.2-rc2+distro1"},
		{name: "other Kubernetes tags do not count", tags: []string{"v1.37.1+distro4"}, want: "v1.37.2+distro1"},
		{name: "given", step: Step{Given: "v1.37.2+distro1"}, want: "v1.37.2+distro1"},
		{name: "given malformed", step: Step{Given: "1.37.2"}, wantErr: `version "1.37.2"`},
		{name: "given for another Kubernetes", step: Step{Given: "v1.37.3+distro1"}, wantErr: "upstream.lock pins v1.37.2"},
		{name: "malformed tag", tags: []string{"v1.37.2+distroX"}, wantErr: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := pipelinetest.NewRepo(t)
			if tc.revision != 0 {
				repo.Write("upstream.lock", strings.Replace(pipelinetest.LockText, "revision: 1", "revision: 2", 1))
				repo.Commit("bump revision")
			}
			for _, tag := range tc.tags {
				repo.Tag(tag)
			}
			c := repo.Context()
			res, err := tc.step.Run(context.Background(), c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if c.HasVersion() {
					t.Errorf("version %s set despite the error", c.Version)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Version.String() != tc.want {
				t.Errorf("version %s, want %s", c.Version, tc.want)
			}
			if d, ok := res.(pipeline.Done); !ok || !strings.Contains(d.Detail, tc.want) {
				t.Errorf("result %#v", res)
			}
		})
	}
}
