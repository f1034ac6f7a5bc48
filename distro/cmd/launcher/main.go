// Command launcher is the small executable users download as distro: the real multicall binary,
// runc and the CNI plugins are appended to it as a compressed payload. It unpacks the payload
// into the data dir on first run and then becomes the real binary with the same arguments.
//
// The data dir is found before anything else, in this order:
//
//  1. the --data-dir or -d flag anywhere in the arguments before "--" (the last one wins);
//  2. the DISTRO_DATA_DIR environment variable;
//  3. /var/lib/distro when running as root, $HOME/.distro otherwise.
//
// It imports nothing of Kubernetes: it must stay small and start fast.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/distro-io/distro/distro/payload"
	"github.com/distro-io/distro/distro/version"
)

// dataDirEnv names the environment variable that sets the data dir.
var dataDirEnv = strings.ToUpper(version.Program) + "_DATA_DIR"

func main() {
	if err := run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", version.Program, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	dataDir, err := findDataDir(args[1:], os.Getenv(dataDirEnv), os.Geteuid() == 0, os.UserHomeDir)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding own executable: %w", err)
	}
	p, err := payload.Open(exe)
	if errors.Is(err, payload.ErrNoPayload) {
		return fmt.Errorf("%s: this launcher has no payload appended, it is a development build; build the release file with `mage build`", exe)
	}
	if err != nil {
		return err
	}
	start := time.Now()
	r, err := p.Ensure(dataDir)
	if err != nil {
		return fmt.Errorf("unpacking into data dir %s: %w", dataDir, err)
	}
	if r.Unpacked {
		why := ""
		if r.Reason != "" {
			why = ", replacing a damaged copy: " + r.Reason
		}
		fmt.Fprintf(os.Stderr, "%s: unpacked %d files to %s in %s%s\n", version.Program, len(p.Manifest.Files), r.BinDir, time.Since(start).Round(time.Millisecond), why)
	}

	bin := filepath.Join(r.BinDir, version.Program)
	argv := append([]string{execName(r.BinDir, args[0])}, args[1:]...)
	env := payload.WithPath(os.Environ(), r.BinDir)
	if err := syscall.Exec(bin, argv, env); err != nil {
		return fmt.Errorf("running %s (data dir %s): %w", bin, dataDir, err)
	}
	return nil
}

// findDataDir applies the order documented above. A relative dir is made absolute.
func findDataDir(args []string, env string, root bool, home func() (string, error)) (string, error) {
	dir := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if v, ok := cutFlag(a); ok {
			dir = v
			continue
		}
		if a == "--data-dir" || a == "-d" {
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a directory", a)
			}
			i++
			dir = args[i]
		}
	}
	switch {
	case dir != "":
	case env != "":
		dir = env
	case root:
		dir = version.DataDir
	default:
		h, err := home()
		if err != nil || h == "" {
			return "", fmt.Errorf("no data dir: not root, no home dir (%v); pass --data-dir or set %s", err, dataDirEnv)
		}
		dir = filepath.Join(h, "."+version.Program)
	}
	if dir == "" {
		return "", errors.New("empty data dir")
	}
	return filepath.Abs(dir)
}

// cutFlag reads the --data-dir=DIR and -d=DIR forms.
func cutFlag(a string) (string, bool) {
	for _, p := range []string{"--data-dir=", "-d="} {
		if v, ok := strings.CutPrefix(a, p); ok {
			return v, true
		}
	}
	return "", false
}

// execName keeps the name the launcher was started as, so a `kubectl -> distro` symlink still
// selects kubectl in the multicall binary, while the path points into the bin dir.
func execName(binDir, argv0 string) string {
	base := filepath.Base(argv0)
	if base == "." || base == "/" || base == "" {
		base = version.Program
	}
	return filepath.Join(binDir, base)
}
