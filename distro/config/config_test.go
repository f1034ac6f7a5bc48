package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// serverFlags is a small stand-in for the server's FlagSet with one flag of each shape.
func serverFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	AddConfigFlag(fs)
	fs.String("node-name", "default-node", "")
	fs.String("data-dir", "/var/lib/distro", "")
	fs.Bool("disable-agent", false, "")
	fs.Int("https-listen-port", 6443, "")
	fs.Duration("etcd-snapshot-interval", time.Hour, "")
	fs.StringSlice("tls-san", nil, "")
	fs.StringSlice("node-label", nil, "")
	fs.StringArray("extra-apiserver-arg", nil, "")
	fs.StringToString("node-annotation", nil, "")
	fs.IPSlice("node-ip", nil, "")
	return fs
}

// setup writes files under a temp dir: the key "main" is config.yaml, other keys are drop-ins.
func setup(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, "config.yaml")
		if name != "main" {
			path = filepath.Join(dir, "config.yaml.d", name)
		}
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "config.yaml")
}

func load(t *testing.T, args []string, env []string) (*pflag.FlagSet, *Result, error) {
	t.Helper()
	fs := serverFlags()
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if env == nil {
		env = []string{}
	}
	res, err := Loader{Env: env}.Load(fs)
	return fs, res, err
}

func get(t *testing.T, fs *pflag.FlagSet, name string) string {
	t.Helper()
	return fs.Lookup(name).Value.String()
}

func TestPrecedence(t *testing.T) {
	file := `
node-name: from-file
https-listen-port: 7443
tls-san: [file-a, file-b]
disable-agent: true
node-label:
  zone: a
  disk: ssd
extra-apiserver-arg:
  - feature-gates=A=true,B=false
  - v=2
node-annotation: {team: infra, cost: "7"}
node-ip: [10.0.0.1, "fd00::1"]
etcd-snapshot-interval: 5m
`
	tests := []struct {
		name       string
		args       []string
		env        []string
		flag, want string
		source     string
	}{
		{name: "default", flag: "data-dir", want: "/var/lib/distro", source: "default"},
		{name: "file string", flag: "node-name", want: "from-file", source: "file"},
		{name: "file int", flag: "https-listen-port", want: "7443", source: "file"},
		{name: "file bool", flag: "disable-agent", want: "true", source: "file"},
		{name: "file duration", flag: "etcd-snapshot-interval", want: "5m0s", source: "file"},
		{name: "file list", flag: "tls-san", want: "[file-a,file-b]", source: "file"},
		{name: "file mapping into a list flag", flag: "node-label", want: "[zone=a,disk=ssd]", source: "file"},
		{name: "file key=value list keeps commas inside items", flag: "extra-apiserver-arg", want: `["feature-gates=A=true,B=false",v=2]`, source: "file"},
		{name: "file mapping into a map flag", flag: "node-annotation", want: "[cost=7,team=infra]", source: "file"},
		{name: "file IP list", flag: "node-ip", want: "[10.0.0.1,fd00::1]", source: "file"},
		{name: "env over file", env: []string{"DISTRO_NODE_NAME=from-env"}, flag: "node-name", want: "from-env", source: "env"},
		{name: "env list over file list", env: []string{"DISTRO_TLS_SAN=env-a,env-b"}, flag: "tls-san", want: "[env-a,env-b]", source: "env"},
		{name: "env over default", env: []string{"DISTRO_DATA_DIR=/srv/distro"}, flag: "data-dir", want: "/srv/distro", source: "env"},
		{name: "flag over env and file", args: []string{"--node-name=from-flag"}, env: []string{"DISTRO_NODE_NAME=from-env"}, flag: "node-name", want: "from-flag", source: "flag"},
		{name: "repeated flags replace the file list", args: []string{"--tls-san=x", "--tls-san=y"}, flag: "tls-san", want: "[x,y]", source: "flag"},
		{name: "repeated key=value flags", args: []string{"--extra-apiserver-arg=v=4", "--extra-apiserver-arg=audit-log-maxage=3"}, flag: "extra-apiserver-arg", want: "[v=4,audit-log-maxage=3]", source: "flag"},
		{name: "flag false over file true", args: []string{"--disable-agent=false"}, flag: "disable-agent", want: "false", source: "flag"},
		{name: "unrelated env ignored", env: []string{"DISTRO_NOT_A_FLAG=1", "NODE_NAME=x"}, flag: "node-name", want: "from-file", source: "file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := setup(t, map[string]string{"main": file})
			fs, res, err := load(t, append([]string{"--config", path}, tt.args...), tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := get(t, fs, tt.flag); got != tt.want {
				t.Errorf("%s = %s, want %s", tt.flag, got, tt.want)
			}
			if got := res.Source(tt.flag).Kind; got != tt.source {
				t.Errorf("%s came from %s, want %s", tt.flag, res.Source(tt.flag), tt.source)
			}
			if tt.source != "default" && !fs.Lookup(tt.flag).Changed {
				t.Errorf("%s set but not marked changed", tt.flag)
			}
		})
	}
}

func TestSourceNamesFileAndLine(t *testing.T) {
	path := setup(t, map[string]string{"main": "# comment\nnode-name: a\n"})
	_, res, err := load(t, []string{"-c", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Source("node-name").String(); got != path+":2" {
		t.Errorf("source %q", got)
	}
}

func TestConfigFileSelection(t *testing.T) {
	t.Run("missing default file is fine", func(t *testing.T) {
		fs := serverFlags()
		// The default is only a default: point it at a temp dir instead of the real /etc.
		fs.Lookup(ConfigFlag).DefValue = filepath.Join(t.TempDir(), "config.yaml")
		if _, err := (Loader{Env: []string{}}).Load(fs); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missing explicit file is an error", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.yaml")
		_, _, err := load(t, []string{"--config", missing}, nil)
		assertProblems(t, err, []string{missing + `: configuration file does not exist`})
	})
	t.Run("file from the environment", func(t *testing.T) {
		path := setup(t, map[string]string{"main": "node-name: via-env-file\n"})
		fs, _, err := load(t, nil, []string{"DISTRO_CONFIG=" + path})
		if err != nil || get(t, fs, "node-name") != "via-env-file" {
			t.Fatalf("%v, node-name %s", err, get(t, fs, "node-name"))
		}
	})
	t.Run("missing file from the environment is an error", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.yaml")
		_, _, err := load(t, nil, []string{"DISTRO_CONFIG=" + missing})
		assertProblems(t, err, []string{missing + `: configuration file does not exist`})
	})
	t.Run("empty file", func(t *testing.T) {
		path := setup(t, map[string]string{"main": ""})
		if _, _, err := load(t, []string{"-c", path}, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDropIns(t *testing.T) {
	path := setup(t, map[string]string{
		"main":        "node-name: main\ntls-san: [a]\nhttps-listen-port: 1\n",
		"20-b.yaml":   "node-name: twenty\ntls-san+: [c]\n",
		"10-a.yaml":   "node-name: ten\ntls-san+: [b]\nhttps-listen-port: 2\n",
		"ignored.yml": "node-name: not-yaml-suffix\n",
	})
	fs, res, err := load(t, []string{"-c", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"node-name": "twenty", "tls-san": "[a,b,c]", "https-listen-port": "2"} {
		if got := get(t, fs, flag); got != want {
			t.Errorf("%s = %s, want %s", flag, got, want)
		}
	}
	if len(res.Files) != 3 || !strings.HasSuffix(res.Files[1], "10-a.yaml") || !strings.HasSuffix(res.Files[2], "20-b.yaml") {
		t.Errorf("files read: %v", res.Files)
	}

	// Drop-ins apply even when the default main file does not exist.
	dir := filepath.Dir(path)
	os.Remove(path)
	fs = serverFlags()
	fs.Lookup(ConfigFlag).DefValue = path
	if _, err := (Loader{Env: []string{}}).Load(fs); err != nil || get(t, fs, "node-name") != "twenty" {
		t.Errorf("drop-ins without main file in %s: %v, node-name %s", dir, err, get(t, fs, "node-name"))
	}
}

func assertProblems(t *testing.T, err error, want []string) {
	t.Helper()
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("error %v is not a *config.Error", err)
	}
	if len(cfgErr.Problems) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(cfgErr.Problems), len(want), err)
	}
	for i, w := range want {
		if got := cfgErr.Problems[i].Error(); !strings.Contains(got, w) {
			t.Errorf("problem %d = %q\n  want it to contain %q", i, got, w)
		}
	}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		want []string // substrings, one per problem, in order; FILE is replaced by the path
	}{
		{name: "unknown key with suggestion", file: "tls-sans: [a]\n", want: []string{`FILE:1: "tls-sans": unknown key; did you mean "tls-san"?`}},
		{name: "underscore key", file: "\nnode_name: x\n", want: []string{`FILE:2: "node_name": unknown key; did you mean "node-name"?`}},
		{name: "unknown key without suggestion", file: "completely-different: 1\n", want: []string{`FILE:1: "completely-different": unknown key`}},
		{name: "bad int", file: "https-listen-port: lots\n", want: []string{`FILE:1: "https-listen-port": invalid value "lots": expected an integer`}},
		{name: "bad bool", file: "disable-agent: yes please\n", want: []string{`"disable-agent": invalid value "yes please": expected true or false`}},
		{name: "bad duration", file: "etcd-snapshot-interval: 5 minutes\n", want: []string{`expected a duration`}},
		{name: "bad IP in list", file: "node-ip: [10.0.0.1, not-an-ip]\n", want: []string{`FILE:1: "node-ip": invalid value "not-an-ip": expected a list of IP addresses`}},
		{name: "list for a scalar", file: "node-name: [a, b]\n", want: []string{`"node-name": expected a string, got a list`}},
		{name: "mapping for a scalar", file: "node-name: {a: b}\n", want: []string{`"node-name": expected a string, got a mapping`}},
		{name: "null value", file: "node-name:\n", want: []string{`"node-name": no value given; expected a string`}},
		{name: "nested list item", file: "tls-san:\n  - [a]\n", want: []string{`list item on line 2 is not a plain value`}},
		{name: "duplicate key", file: "node-name: a\nnode-name: b\n", want: []string{`FILE:2: "node-name": set twice in this file (first on line 1)`}},
		{name: "config inside config", file: "config: /other.yaml\n", want: []string{`"config": the configuration file cannot be chosen`}},
		{name: "append to a scalar", file: "node-name+: x\n", want: []string{`"node-name+": "+" appends to lists`}},
		{name: "malformed YAML", file: "node-name: a\n  tls-san: [b\n", want: []string{`FILE: malformed YAML: yaml: line 2`}},
		{name: "top level list", file: "- node-name\n", want: []string{`FILE:1: expected a mapping of flag names to values`}},
		{name: "bad env value", env: []string{"DISTRO_HTTPS_LISTEN_PORT=x"}, want: []string{`environment variable DISTRO_HTTPS_LISTEN_PORT: "https-listen-port": invalid value "x": expected an integer`}},
		{
			name: "every problem at once",
			file: "tls-sans: [a]\nhttps-listen-port: x\nnode-name: ok\ndisable-agent: maybe\n",
			env:  []string{"DISTRO_ETCD_SNAPSHOT_INTERVAL=soon"},
			want: []string{`FILE:1: "tls-sans": unknown key`, `FILE:2: "https-listen-port"`, `FILE:4: "disable-agent"`, `DISTRO_ETCD_SNAPSHOT_INTERVAL`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := setup(t, map[string]string{"main": tt.file})
			_, _, err := load(t, []string{"--config", path}, tt.env)
			if tt.name == "every problem at once" {
				t.Logf("the user sees:\n%v", err)
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = strings.ReplaceAll(w, "FILE", path)
			}
			assertProblems(t, err, want)
		})
	}
}

func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		// root reads any file; a directory in place of the file fails the same code path.
		path := setup(t, nil)
		os.Mkdir(path, 0o755)
		_, _, err := load(t, []string{"-c", path}, nil)
		assertProblems(t, err, []string{path + ": cannot read:"})
		return
	}
	path := setup(t, map[string]string{"main": "node-name: a\n"})
	os.Chmod(path, 0)
	_, _, err := load(t, []string{"-c", path}, nil)
	assertProblems(t, err, []string{path + ": cannot read:"})
}

func TestProblemInDropInNamesTheDropIn(t *testing.T) {
	path := setup(t, map[string]string{"main": "node-name: a\n", "50-extra.yaml": "\n\nhttps-listen-port: many\n"})
	_, _, err := load(t, []string{"-c", path}, nil)
	assertProblems(t, err, []string{filepath.Join(path+".d", "50-extra.yaml") + `:3: "https-listen-port": invalid value "many"`})
}

func TestEnvName(t *testing.T) {
	if got := EnvName("extra-apiserver-arg"); got != "DISTRO_EXTRA_APISERVER_ARG" {
		t.Errorf("EnvName = %s", got)
	}
}
