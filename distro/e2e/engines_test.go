package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distro-io/distro/release/testbin"
)

// This file starts the storage engines the datastore tests run distro against: throwaway
// PostgreSQL, MariaDB and etcd servers in temporary directories, listening on loopback only,
// each stopped when its test ends. A missing engine fails the test with what to install.

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemon is an engine's server process.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

// startDaemon starts cmd and registers a cleanup that stops it with stopSignal (then SIGKILL
// after 30 s).
func startDaemon(t *testing.T, name string, cmd *exec.Cmd, stopSignal syscall.Signal) *daemon {
	t.Helper()
	d := &daemon{name: name, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(stopSignal)
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-d.done
		}
		if keep := keepLogsDir(t); keep != "" && t.Failed() {
			if err := os.MkdirAll(keep, 0o755); err == nil {
				os.WriteFile(filepath.Join(keep, name+".log"), []byte(d.log.String()), 0o644)
			}
		}
	})
	return d
}

// waitFor polls ready until it succeeds, the process exits or the bound passes.
func (d *daemon) waitFor(t *testing.T, bound time.Duration, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited before it was ready (%v); its output:\n%s", d.name, d.cmd.ProcessState, tail(d.log.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s: %v; its output:\n%s", d.name, bound, err, tail(d.log.String(), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func dialable(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
}

// findProgram looks for name in PATH, then in the given directories (globs allowed, the last
// match wins so /usr/lib/postgresql/*/bin picks the newest version).
func findProgram(name string, dirs ...string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		matches, _ := filepath.Glob(filepath.Join(dirs[i], name))
		slices.Sort(matches)
		for j := len(matches) - 1; j >= 0; j-- {
			if st, err := os.Stat(matches[j]); err == nil && st.Mode().IsRegular() {
				return matches[j], true
			}
		}
	}
	return "", false
}

// requirePrograms finds every program or fails the test saying which package to install.
func requirePrograms(t *testing.T, pkg string, dirs []string, names ...string) map[string]string {
	t.Helper()
	found := map[string]string{}
	var missing []string
	for _, n := range names {
		if p, ok := findProgram(n, dirs...); ok {
			found[n] = p
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%s not found in PATH or %s: install the Debian package %s (.ci/run does)", strings.Join(missing, ", "), strings.Join(dirs, ", "), pkg)
	}
	return found
}

func runOK(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// sqlEngine is a running PostgreSQL or MariaDB server.
type sqlEngine struct {
	// endpoint is the --datastore-endpoint for distro, password included.
	endpoint string
	// query runs one SQL statement as the engine's administrator in database db and returns
	// the output without headers.
	query func(t *testing.T, db, sql string) string
}

const datastorePassword = "e2e-Pass.word"

// startPostgres runs a PostgreSQL server in a new cluster directory, as the postgres user when
// the test runs as root (PostgreSQL refuses to run as root). distro connects over TCP with a
// password; the test inspects the tables through the unix socket.
func startPostgres(t *testing.T) *sqlEngine {
	t.Helper()
	return startPostgresOn(t, "127.0.0.1", "")
}

// startPostgresOn is startPostgres listening on host; clients from network (a CIDR; empty for
// loopback only) may log in with the password too.
func startPostgresOn(t *testing.T, host, network string) *sqlEngine {
	t.Helper()
	bins := requirePrograms(t, "postgresql", []string{"/usr/lib/postgresql/*/bin"}, "initdb", "postgres", "psql")
	var cred *syscall.Credential
	owner := -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("the tests run as root and PostgreSQL needs another user: no user postgres (%v); install the Debian package postgresql", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred, owner = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid
	}
	// Not t.TempDir: its parent is private to root, and the server runs as postgres.
	dir, err := os.MkdirTemp("", "distro-e2e-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pwfile := filepath.Join(dir, "pwfile")
	os.WriteFile(pwfile, []byte(datastorePassword+"\n"), 0o600)
	if owner >= 0 {
		for _, p := range []string{dir, pwfile} {
			if err := os.Chown(p, owner, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(bins["initdb"], "-D", data, "-U", "distro", "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	runOK(t, initdb)
	if network != "" {
		hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(hba, "host all all %s scram-sha-256\n", network)
		hba.Close()
	}

	port := freePort(t)
	cmd := exec.Command(bins["postgres"], "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses="+host, "-c", "logging_collector=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// SIGINT is PostgreSQL's fast shutdown.
	d := startDaemon(t, "postgres", cmd, syscall.SIGINT)
	query := func(t *testing.T, db, sql string) string {
		t.Helper()
		return runOK(t, exec.Command(bins["psql"], "-h", dir, "-p", strconv.Itoa(port), "-U", "distro",
			"-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql))
	}
	d.waitFor(t, time.Minute, func() error {
		out, err := exec.Command(bins["psql"], "-h", dir, "-p", strconv.Itoa(port), "-U", "distro", "-d", "postgres", "-At", "-c", "SELECT 1").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	return &sqlEngine{
		endpoint: fmt.Sprintf("postgres://distro:%s@%s/distro_e2e?sslmode=disable", datastorePassword, net.JoinHostPort(host, strconv.Itoa(port))),
		query:    query,
	}
}

// startMariaDB runs a MariaDB server on a new data directory. An init file creates the user
// distro connects as, over TCP with a password; the test inspects the tables as root through
// the unix socket.
func startMariaDB(t *testing.T) *sqlEngine {
	t.Helper()
	bins := requirePrograms(t, "mariadb-server", []string{"/usr/bin", "/usr/sbin"}, "mariadb-install-db", "mariadbd", "mariadb")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "mariadb.sock")
	install := exec.Command(bins["mariadb-install-db"], "--no-defaults", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if os.Geteuid() == 0 {
		install.Args = append(install.Args, "--user=root")
	}
	runOK(t, install)
	initFile := filepath.Join(dir, "init.sql")
	os.WriteFile(initFile, []byte(fmt.Sprintf(
		"CREATE USER IF NOT EXISTS 'distro'@'127.0.0.1' IDENTIFIED BY '%s';\nGRANT ALL PRIVILEGES ON *.* TO 'distro'@'127.0.0.1';\n",
		datastorePassword)), 0o600)
	port := freePort(t)
	args := []string{"--no-defaults", "--datadir=" + data, "--bind-address=127.0.0.1",
		"--port=" + strconv.Itoa(port), "--socket=" + sock, "--pid-file=" + filepath.Join(dir, "mariadb.pid"),
		"--init-file=" + initFile, "--skip-log-error"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	d := startDaemon(t, "mariadbd", exec.Command(bins["mariadbd"], args...), syscall.SIGTERM)
	query := func(t *testing.T, db, sql string) string {
		t.Helper()
		return runOK(t, exec.Command(bins["mariadb"], "--no-defaults", "-S", sock, "-uroot", "-N", "-B", "-D", db, "-e", sql))
	}
	d.waitFor(t, time.Minute, func() error {
		// Ready once the init file ran: distro's user logs in over TCP.
		out, err := exec.Command(bins["mariadb"], "--no-defaults", "-h", "127.0.0.1", "-P", strconv.Itoa(port),
			"-udistro", "-p"+datastorePassword, "-e", "SELECT 1").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	return &sqlEngine{
		endpoint: fmt.Sprintf("mysql://distro:%s@tcp(127.0.0.1:%d)/distro_e2e", datastorePassword, port),
		query:    query,
	}
}

var (
	etcdOnce sync.Once
	etcdPath string
	etcdErr  error
)

// etcdBinary builds (or takes from the cache) etcd from the module upstream.lock pins.
func etcdBinary(t *testing.T) string {
	t.Helper()
	etcdOnce.Do(func() {
		// go test runs in the package directory (file names from runtime.Caller are not paths under -trimpath).
		lock := filepath.Join("..", "..", "upstream.lock")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		start := time.Now()
		etcdPath, etcdErr = testbin.Etcd(ctx, testbin.Options{Lock: lock})
		t.Logf("etcd from the locked module: %s (%s)", etcdPath, time.Since(start).Round(time.Millisecond))
	})
	if etcdErr != nil {
		t.Fatalf("building etcd from upstream.lock (`go tool mage testbin:etcd`): %v", etcdErr)
	}
	return etcdPath
}

// etcdTLS holds the files of a test PKI: a CA, etcd's serving certificate and a client
// certificate for distro.
type etcdTLS struct {
	CAFile, ServerCert, ServerKey, ClientCert, ClientKey string
}

// etcdEngine is a running single-member etcd.
type etcdEngine struct {
	endpoint string
	tls      *etcdTLS
	client   *http.Client
}

// startEtcd runs a single-member etcd on loopback ports; with withTLS the client port speaks
// only TLS and demands a client certificate signed by the test CA.
func startEtcd(t *testing.T, withTLS bool) *etcdEngine {
	t.Helper()
	return startEtcdOn(t, "127.0.0.1", withTLS)
}

// startEtcdOn is startEtcd with the client port on host (the peer port stays on loopback).
// The test certificate covers 127.0.0.1 only: TLS needs host 127.0.0.1.
func startEtcdOn(t *testing.T, host string, withTLS bool) *etcdEngine {
	t.Helper()
	bin := etcdBinary(t)
	dir := t.TempDir()
	clientPort, peerPort := freePort(t), freePort(t)
	scheme := "http"
	e := &etcdEngine{client: &http.Client{Timeout: 10 * time.Second}}
	var tlsArgs []string
	if withTLS {
		scheme = "https"
		e.tls = makeEtcdTLS(t, filepath.Join(dir, "pki"))
		tlsArgs = []string{"--cert-file", e.tls.ServerCert, "--key-file", e.tls.ServerKey,
			"--trusted-ca-file", e.tls.CAFile, "--client-cert-auth"}
		cfg, err := e.tls.clientConfig()
		if err != nil {
			t.Fatal(err)
		}
		e.client.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	e.endpoint = fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(host, strconv.Itoa(clientPort)))
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	args := append([]string{"--name", "e2e", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", e.endpoint, "--advertise-client-urls", e.endpoint,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "e2e=" + peer, "--log-level", "warn"}, tlsArgs...)
	d := startDaemon(t, "etcd", exec.Command(bin, args...), syscall.SIGTERM)
	d.waitFor(t, time.Minute, func() error {
		resp, err := e.client.Get(e.endpoint + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `"health":"true"`) {
			return fmt.Errorf("/health: %s %s", resp.Status, body)
		}
		return nil
	})
	return e
}

// count returns how many keys etcd holds under prefix, read through its JSON gateway.
func (e *etcdEngine) count(t *testing.T, prefix string) int {
	t.Helper()
	end := []byte(prefix)
	end[len(end)-1]++
	req, _ := json.Marshal(map[string]any{
		"key":        base64.StdEncoding.EncodeToString([]byte(prefix)),
		"range_end":  base64.StdEncoding.EncodeToString(end),
		"count_only": true,
	})
	resp, err := e.client.Post(e.endpoint+"/v3/kv/range", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatalf("reading etcd: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Count string `json:"count"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("reading etcd: %s %s", resp.Status, body)
	}
	n, _ := strconv.Atoi(out.Count) // absent when zero
	return n
}

func (p *etcdTLS) clientConfig() (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(p.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// makeEtcdTLS writes a CA, a serving certificate for 127.0.0.1 and a client certificate.
func makeEtcdTLS(t *testing.T, dir string) *etcdTLS {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e etcd CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &etcdTLS{
		CAFile:     filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key"),
	}
	writePEM(t, p.CAFile, "CERTIFICATE", caDER)
	leaf := func(serial int64, cn string, usage []x509.ExtKeyUsage, certFile, keyFile string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
		}
		if slices.Contains(usage, x509.ExtKeyUsageServerAuth) {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	}
	// etcd's JSON gateway, which the test reads through, dials etcd's own gRPC port with the
	// serving certificate as its client certificate: it needs both usages.
	leaf(2, "etcd", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, p.ServerCert, p.ServerKey)
	leaf(3, "distro", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, p.ClientCert, p.ClientKey)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
