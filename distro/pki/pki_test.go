package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
)

// testOptions returns options for a fresh data dir and admin kubeconfig under t.TempDir().
func testOptions(t *testing.T) Options {
	t.Helper()
	dir := t.TempDir()
	return Options{
		DataDir:         filepath.Join(dir, "data"),
		TLSSANs:         []string{"api.example.test", "192.0.2.10"},
		Hostname:        "node-a",
		NodeIPs:         []string{"10.0.0.5", "fd00::5"},
		ServiceCIDRs:    []string{"10.43.0.0/16", "fd00:43::/112"},
		ClusterDomain:   "cluster.test",
		AdminKubeconfig: filepath.Join(dir, "etc", "distro.yaml"),
	}
}

func run(t *testing.T, o Options) (*PKI, *Report) {
	t.Helper()
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c, err := o.Complete()
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	p, report, err := c.Run()
	if err != nil {
		t.Fatalf("Run: %v\nreport:\n%s", err, report)
	}
	return p, report
}

// snapshot reads every file under the given roots.
func snapshot(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			files[path] = string(data)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := certutil.CertsFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func TestFirstRunCreatesEveryFileWithPrivateKeysAt0600(t *testing.T) {
	o := testOptions(t)
	p, report := run(t, o)
	l := p.Layout

	want := []string{
		l.CertFile(ServerCA), l.KeyFile(ServerCA), l.CertFile(ClientCA), l.KeyFile(ClientCA),
		l.CertFile(RequestHeaderCA), l.KeyFile(RequestHeaderCA),
		l.CertFile(APIServerServing), l.KeyFile(APIServerServing),
		l.ServiceAccountKey(), l.ServiceAccountPub(), o.AdminKubeconfig,
	}
	for _, id := range ClientIdentities() {
		want = append(want, l.CertFile(id.Stem()), l.KeyFile(id.Stem()))
		if id.Kubeconfig {
			want = append(want, l.Kubeconfig(id.Name))
		}
	}
	for _, path := range want {
		info, err := os.Stat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		private := strings.HasSuffix(path, ".key") || strings.HasSuffix(path, ".kubeconfig") || path == o.AdminKubeconfig
		if private && info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", path, info.Mode().Perm())
		}
	}
	for _, e := range report.Entries {
		if e.Action == Kept || e.Action == Reissued {
			t.Errorf("first run reported %s", e)
		}
	}
	if e, _ := report.Find(APIServerServing + ".crt"); e.Action != Created {
		t.Errorf("serving certificate: %v, want created", e)
	}
	if p.ServerCA.Cert.Equal(p.ClientCA.Cert) || p.ClientCA.Cert.Equal(p.RequestHeaderCA.Cert) {
		t.Error("CAs are not distinct")
	}
}

func TestServingCertificateCoversEveryRequiredName(t *testing.T) {
	p, _ := run(t, testOptions(t))
	cert := readCert(t, p.Layout.CertFile(APIServerServing))
	wantDNS := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.test", "node-a", "api.example.test"}
	for _, name := range wantDNS {
		if !slices.Contains(cert.DNSNames, name) {
			t.Errorf("DNS SAN %s missing from %v", name, cert.DNSNames)
		}
	}
	wantIPs := []string{"127.0.0.1", "::1", "10.43.0.1", "fd00:43::1", "10.0.0.5", "fd00::5", "192.0.2.10"}
	for _, ip := range wantIPs {
		if !slices.ContainsFunc(cert.IPAddresses, net.ParseIP(ip).Equal) {
			t.Errorf("IP SAN %s missing from %v", ip, cert.IPAddresses)
		}
	}
}

func TestSecondRunKeepsEveryFileByteForByte(t *testing.T) {
	o := testOptions(t)
	run(t, o)
	before := snapshot(t, o.DataDir, filepath.Dir(o.AdminKubeconfig))
	_, report := run(t, o)
	after := snapshot(t, o.DataDir, filepath.Dir(o.AdminKubeconfig))
	if len(before) != len(after) {
		t.Fatalf("file count changed from %d to %d", len(before), len(after))
	}
	for path, data := range before {
		if after[path] != data {
			t.Errorf("%s changed on reload", path)
		}
	}
	if changes := report.Changes(); len(changes) > 0 {
		t.Errorf("second run changed files: %v", changes)
	}
}

func TestNewSANReissuesServingCertificateAndKeepsCAAndKey(t *testing.T) {
	o := testOptions(t)
	p, _ := run(t, o)
	caBefore := snapshot(t, p.Layout.CertFile(ServerCA), p.Layout.KeyFile(ServerCA))
	keyBefore := snapshot(t, p.Layout.KeyFile(APIServerServing))
	oldCert := readCert(t, p.Layout.CertFile(APIServerServing))

	o.TLSSANs = append(o.TLSSANs, "new.example.test", "198.51.100.7")
	_, report := run(t, o)

	e, _ := report.Find(APIServerServing + ".crt")
	if e.Action != Reissued || !strings.Contains(e.Reason, "new.example.test") || !strings.Contains(e.Reason, "198.51.100.7") {
		t.Errorf("serving certificate: %v, want reissued naming both new SANs", e)
	}
	newCert := readCert(t, p.Layout.CertFile(APIServerServing))
	if newCert.Equal(oldCert) || !slices.Contains(newCert.DNSNames, "new.example.test") {
		t.Error("serving certificate on disk does not carry the new SAN")
	}
	for path, data := range caBefore {
		if snapshot(t, path)[path] != data {
			t.Errorf("%s changed with a SAN change", path)
		}
	}
	if snapshot(t, p.Layout.KeyFile(APIServerServing))[p.Layout.KeyFile(APIServerServing)] != keyBefore[p.Layout.KeyFile(APIServerServing)] {
		t.Error("serving key was replaced; it should be reused")
	}
	for _, c := range report.Changes() {
		if filepath.Base(c.Path) != APIServerServing+".crt" {
			t.Errorf("unexpected change %s", c)
		}
	}

	// Removing a SAN leaves a certificate that still covers everything asked for.
	o.TLSSANs = o.TLSSANs[:1]
	_, report = run(t, o)
	if e, _ := report.Find(APIServerServing + ".crt"); e.Action != Kept {
		t.Errorf("after removing a SAN: %v, want kept", e)
	}
}

func TestExpiringCertificatesAreReissuedAndCAsKept(t *testing.T) {
	o := testOptions(t)
	o.Now = func() time.Time { return time.Now().Add(-300 * 24 * time.Hour) }
	p, _ := run(t, o)
	caBefore := snapshot(t, p.Layout.CertFile(ClientCA))

	o.Now = nil
	_, report := run(t, o)
	for _, id := range append(ClientIdentities(), ClientIdentity{Name: "serving"}) {
		base := id.Stem() + ".crt"
		if id.Name == "serving" {
			base = APIServerServing + ".crt"
		}
		e, _ := report.Find(base)
		if e.Action != Reissued || !strings.Contains(e.Reason, "within 90 days") {
			t.Errorf("%s: %v, want reissued because it expires within 90 days", base, e)
		}
		if cert := readCert(t, e.Path); cert.NotAfter.Sub(time.Now()) < 300*24*time.Hour {
			t.Errorf("%s still expires on %s", base, cert.NotAfter)
		}
	}
	if snapshot(t, p.Layout.CertFile(ClientCA))[p.Layout.CertFile(ClientCA)] != caBefore[p.Layout.CertFile(ClientCA)] {
		t.Error("client CA changed")
	}
}

func TestDamagedLeafIsReissuedButDamagedCAIsLeftAlone(t *testing.T) {
	o := testOptions(t)
	p, _ := run(t, o)
	l := p.Layout

	if err := os.WriteFile(l.CertFile("client-"+KubeProxy), []byte("half a certi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l.KeyFile("client-" + KubeScheduler)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(l.KeyFile("client-"+Admin), 0o644); err != nil {
		t.Fatal(err)
	}
	_, report := run(t, o)
	if e, _ := report.Find("client-" + KubeProxy + ".crt"); e.Action != Reissued || !strings.Contains(e.Reason, "unreadable") {
		t.Errorf("damaged certificate: %v", e)
	}
	if e, _ := report.Find("client-" + KubeScheduler + ".crt"); e.Action != Reissued || !strings.Contains(e.Reason, "missing") {
		t.Errorf("certificate without key: %v", e)
	}
	if e, _ := report.Find("client-" + Admin + ".key"); e.Action != Repaired {
		t.Errorf("key readable by others: %v, want repaired", e)
	}
	if info, _ := os.Stat(l.KeyFile("client-" + Admin)); info.Mode().Perm() != 0o600 {
		t.Errorf("admin key mode %v", info.Mode().Perm())
	}

	garbage := []byte("not a key")
	if err := os.WriteFile(l.KeyFile(ServerCA), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := o.Complete()
	_, _, err := c.Run()
	if err == nil || !strings.Contains(err.Error(), l.KeyFile(ServerCA)) {
		t.Fatalf("Run with a damaged CA key: error %v, want one naming %s", err, l.KeyFile(ServerCA))
	}
	if got, _ := os.ReadFile(l.KeyFile(ServerCA)); string(got) != string(garbage) {
		t.Error("damaged CA key was overwritten")
	}

	if err := os.Remove(l.KeyFile(ServerCA)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Run(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Run with a CA certificate but no key: error %v", err)
	}
}

// serveTLS runs a TLS server on loopback that completes handshakes and records the client's name.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				tc := conn.(*tls.Conn)
				if tc.Handshake() == nil {
					tc.Write([]byte("ok"))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestServingCertificateHandshakesForEverySAN(t *testing.T) {
	p, _ := run(t, testOptions(t))
	l := p.Layout
	serving, err := tls.LoadX509KeyPair(l.CertFile(APIServerServing), l.KeyFile(APIServerServing))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{serving}})
	cert := readCert(t, l.CertFile(APIServerServing))

	names := slices.Clone(cert.DNSNames)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	for _, name := range names {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.ServerCA.Pool(), ServerName: name})
		if err != nil {
			t.Errorf("handshake as %s: %v", name, err)
			continue
		}
		conn.Close()
	}
	if conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.ServerCA.Pool(), ServerName: "elsewhere.example.test"}); err == nil {
		conn.Close()
		t.Error("handshake for a name outside the SANs succeeded")
	}
	if conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.ClientCA.Pool(), ServerName: "localhost"}); err == nil {
		conn.Close()
		t.Error("handshake trusting the client CA succeeded; serving certificates must come from the server CA")
	}
}

func TestClientCertificatesVerifyAgainstTheirCAOnly(t *testing.T) {
	p, _ := run(t, testOptions(t))
	l := p.Layout
	cas := map[string]*Authority{ClientCA: p.ClientCA, RequestHeaderCA: p.RequestHeaderCA, ServerCA: p.ServerCA}
	for _, id := range ClientIdentities() {
		cert := readCert(t, l.CertFile(id.Stem()))
		if cert.Subject.CommonName != id.CommonName || !slices.Equal(cert.Subject.Organization, id.Organization) {
			t.Errorf("%s: subject %v", id.Name, cert.Subject)
		}
		for stem, ca := range cas {
			_, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if ok := err == nil; ok != (stem == id.SignedBy) {
				t.Errorf("%s verified against %s: %v", id.Name, stem, err)
			}
		}
	}
	admin := readCert(t, l.CertFile("client-"+Admin))
	if admin.Subject.CommonName != "system:admin" || !slices.Equal(admin.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("admin subject %v", admin.Subject)
	}
}

// TestAdminKubeconfigAuthenticatesOverTLS loads the admin kubeconfig like kubectl does and
// completes a mutual TLS handshake with a server that requires client-CA certificates.
func TestAdminKubeconfigAuthenticatesOverTLS(t *testing.T) {
	o := testOptions(t)
	p, _ := run(t, o)
	l := p.Layout
	serving, err := tls.LoadX509KeyPair(l.CertFile(APIServerServing), l.KeyFile(APIServerServing))
	if err != nil {
		t.Fatal(err)
	}
	peers := make(chan string, 4)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.ClientCA.Pool(),
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			peers <- chains[0][0].Subject.CommonName
			return nil
		},
	}
	addr := serveTLS(t, cfg)

	restCfg, err := clientcmd.BuildConfigFromFlags("", o.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if restCfg.Host != DefaultServerURL {
		t.Errorf("kubeconfig server %s", restCfg.Host)
	}
	clientPair, err := tls.X509KeyPair(restCfg.CertData, restCfg.KeyData)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := certutil.NewPoolFromBytes(restCfg.CAData)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{clientPair}})
	if err != nil {
		t.Fatalf("mutual TLS with the admin kubeconfig: %v", err)
	}
	buf := make([]byte, 2)
	if _, err := conn.Read(buf); err != nil {
		t.Fatalf("server closed the connection: %v", err)
	}
	conn.Close()
	if got := <-peers; got != "system:admin" {
		t.Errorf("server saw client %q", got)
	}

	// The front-proxy client comes from the request-header CA: the apiserver's client-CA port must refuse it.
	front, err := tls.LoadX509KeyPair(l.CertFile("client-"+FrontProxyClient), l.KeyFile("client-"+FrontProxyClient))
	if err != nil {
		t.Fatal(err)
	}
	conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{front}})
	if err == nil {
		_, err = conn.Read(buf) // TLS 1.3 reports the client's rejection on the first read
		conn.Close()
	}
	if err == nil {
		t.Error("front-proxy certificate was accepted as a client-CA certificate")
	}

	// Component kubeconfigs point at the files, so reissued certificates need no rewrite.
	cmCfg, err := clientcmd.LoadFromFile(l.Kubeconfig(KubeControllerManager))
	if err != nil {
		t.Fatal(err)
	}
	if got := cmCfg.AuthInfos["default"].ClientCertificate; got != l.CertFile("client-"+KubeControllerManager) {
		t.Errorf("controller-manager kubeconfig points at %q", got)
	}
}

func TestIssueKubeletCertificates(t *testing.T) {
	p, _ := run(t, testOptions(t))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csrDER, err := certutil.MakeCSR(key, &pkix.Name{CommonName: "system:node:someone-else"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := PublicKeyFromCSR(csrDER)
	if err != nil {
		t.Fatal(err)
	}

	clientPEM, err := p.IssueKubeletClient("worker-1", pub)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := parseCert(clientPEM)
	if client.Subject.CommonName != "system:node:worker-1" || !slices.Equal(client.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("kubelet client subject %v (the CSR's subject must be ignored)", client.Subject)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: p.ClientCA.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("kubelet client does not verify against the client CA: %v", err)
	}

	servingPEM, err := p.IssueKubeletServing("worker-1", []net.IP{net.ParseIP("10.0.0.9")}, []string{"worker-1.lan"}, pub)
	if err != nil {
		t.Fatal(err)
	}
	serving, _ := parseCert(servingPEM)
	for _, name := range []string{"worker-1", "worker-1.lan", "10.0.0.9"} {
		if _, err := serving.Verify(x509.VerifyOptions{Roots: p.ServerCA.Pool(), DNSName: name}); err != nil {
			t.Errorf("kubelet serving certificate for %s: %v", name, err)
		}
	}

	if _, err := p.IssueKubeletClient("Bad_Name", pub); err == nil || !strings.Contains(err.Error(), "Bad_Name") {
		t.Errorf("bad node name: %v", err)
	}
	// Flip a bit of the signature at the end of the DER: the request still parses but no longer verifies.
	block, _ := pem.Decode(csrDER)
	block.Bytes[len(block.Bytes)-3] ^= 0x01
	_, err = PublicKeyFromCSR(pem.EncodeToMemory(block))
	if err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("a request with a broken signature: %v, want a signature error", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	o := Options{
		TLSSANs:      []string{"ok.example.test", "bad name", "*.wild.example.test"},
		NodeIPs:      []string{"10.0.0.1", "10.0.0.300"},
		ServiceCIDRs: []string{"10.43.0.0/33"},
		ServerURL:    "http://127.0.0.1:6443",
	}
	err := o.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"data directory", `"bad name"`, `"10.0.0.300"`, `"10.43.0.0/33"`, "https://"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "wild") || strings.Contains(err.Error(), "ok.example") {
		t.Errorf("valid names reported: %v", err)
	}
}
