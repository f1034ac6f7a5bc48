package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// KubernetesModule is the module whose versions are Kubernetes releases.
const KubernetesModule = "k8s.io/kubernetes"

// Proxy lists a module's versions through `go list -m -versions`, so GOPROXY, GONOPROXY,
// GOPRIVATE, GOFLAGS and the rest apply as they do to every other go command.
type Proxy struct {
	// Module defaults to KubernetesModule.
	Module string
	// Env is added to the process environment, later entries winning.
	Env []string
}

var _ Source = Proxy{}

// Name implements Source.
func (p Proxy) Name() string { return "Go module proxy" }

func (p Proxy) module() string {
	if p.Module == "" {
		return KubernetesModule
	}
	return p.Module
}

// Releases implements Source. The go command runs in an empty directory, outside any
// module or workspace, so nothing local shapes the answer.
func (p Proxy) Releases(ctx context.Context) ([]Release, error) {
	dir, err := os.MkdirTemp("", "detect-proxy-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-versions", "-json", p.module())
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), p.Env...), "GOWORK=off", "GO111MODULE=on")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list -m -versions %s: %v: %s", p.module(), err, strings.TrimSpace(stderr.String()))
	}
	var listed struct {
		Versions []string
		Error    *struct{ Err string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &listed); err != nil {
		return nil, fmt.Errorf("go list -m -versions %s: %v", p.module(), err)
	}
	if listed.Error != nil {
		return nil, fmt.Errorf("go list -m -versions %s: %s", p.module(), listed.Error.Err)
	}
	out := make([]Release, 0, len(listed.Versions))
	for _, v := range listed.Versions {
		out = append(out, Release{Version: v})
	}
	return out, nil
}
