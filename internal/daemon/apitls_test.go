package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/acmetest"
	"github.com/tendhq/tend/internal/api"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with serial number serial,
// and its key, to cert.pem and key.pem in dir.
func writeCert(t *testing.T, dir string, serial int64) (certFile, keyFile string) {
	t.Helper()
	return writeCertUntil(t, dir, serial, time.Now().Add(time.Hour))
}

// writeCertUntil is writeCert of a certificate valid until notAfter.
func writeCertUntil(t *testing.T, dir string, serial int64, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	p := acmetest.SelfSigned(t, acmetest.Cert{IPs: []net.IP{net.ParseIP("127.0.0.1")}, Serial: serial, NotBefore: notAfter.Add(-2 * time.Hour), NotAfter: notAfter})
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, []byte(p.CertPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(p.KeyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	// a later write must look changed even within the file system's time resolution
	at := time.Now().Add(time.Duration(serial) * time.Second)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, at, at); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

func TestAPIServesHTTPSWithTheGivenCertificate(t *testing.T) {
	dir := dataDir(t)
	certFile, keyFile := writeCert(t, t.TempDir(), 1)
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan Info, 1), make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: dir, APIAddr: freeAddr(t), GatewayAddr: freeAddr(t), Version: "test",
			APITLSCert: certFile, APITLSKey: keyFile}, func(i Info) { ready <- i })
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start within 60s")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
	}()

	if !strings.HasPrefix(info.API, "https://127.0.0.1:") {
		t.Fatalf("info.API = %s, want https://", info.API)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "api")); err != nil || strings.TrimSpace(string(b)) != info.API {
		t.Fatalf("DATA/api: %q %v, want %s", b, err, info.API)
	}
	hc, err := api.NewHTTPClient(certFile, "")
	if err != nil {
		t.Fatal(err)
	}
	c := &api.Client{Base: info.API, Token: info.Token, HTTP: hc}
	if v, err := c.Version(context.Background()); err != nil || v.Version != "test" {
		t.Fatalf("version over HTTPS: %+v %v", v, err)
	}
	// TLS 1.2 at the least
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: hc.Transport.(*http.Transport).TLSClientConfig.RootCAs,
		MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(info.API + "/metrics"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 client got an answer")
	}
	// plain HTTP is not served
	resp, err := http.Get("http://" + strings.TrimPrefix(info.API, "https://") + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP to the HTTPS API: %d, want 400", resp.StatusCode)
		}
	}
	// and a client that does not trust the certificate is refused
	hc, _ = api.NewHTTPClient("", "")
	if _, err := (&api.Client{Base: info.API, Token: info.Token, HTTP: hc}).Version(context.Background()); err == nil {
		t.Fatal("a client without the CA file reached the API")
	}
}

func TestAPICertificateIsReloadedWhenItsFilesChange(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, 1)
	var logs bytes.Buffer
	first, err := loadAPICert(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &apiCert{certFile: certFile, keyFile: keyFile, log: slog.New(slog.NewJSONHandler(&logs, nil)),
		cert: first, stamp: filesStamp(certFile, keyFile), checked: time.Now()}
	serial := func() int64 {
		got, err := c.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		return got.Leaf.SerialNumber.Int64()
	}
	if s := serial(); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}
	writeCert(t, dir, 2)
	if s := serial(); s != 2 {
		t.Fatalf("after new files: serial %d, want 2", s)
	}
	// files that do not load leave the previous certificate in service, and say why
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s := serial(); s != 2 || !strings.Contains(logs.String(), keyFile) {
		t.Fatalf("after a bad key: serial %d, logs %s", s, logs.String())
	}
}

func TestAPITLSConfigErrorsAndWarnings(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, 1)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	loop := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 7070}
	for _, c := range []struct {
		cert, key, host, want string
	}{
		{certFile, "", "", "go together"},
		{filepath.Join(dir, "missing.pem"), keyFile, "", filepath.Join(dir, "missing.pem")},
		{certFile, certFile, "", certFile + " do not load"},
		{APITLSAuto, "", "", "needs --api-host"},
		{APITLSAuto, keyFile, "tend.example.com", "takes no --api-tls-key"},
		{APITLSAuto, "", "10.0.0.5", "not IP addresses"},
		{APITLSAuto, "", "*.example.com", "not a wildcard"},
		{APITLSAuto, "", "tend", "fully qualified"},
		{"", "", "tend.example.com", "goes with --api-tls-cert auto"},
	} {
		_, _, err := apiTLSConfig(Config{APITLSCert: c.cert, APITLSKey: c.key, APIHost: c.host}, loop, log)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cert %q key %q host %q: %v, want a ConfigError with %q", c.cert, c.key, c.host, err, c.want)
		}
	}
	if cfg, stored, err := apiTLSConfig(Config{APITLSCert: APITLSAuto, APIHost: "Tend.Example.com."}, loop, log); err != nil || cfg == nil || stored == nil || stored.host != "tend.example.com" {
		t.Errorf("auto: %v %v %v", cfg, stored, err)
	} else if _, err := cfg.GetCertificate(&tls.ClientHelloInfo{}); err == nil || !strings.Contains(err.Error(), "starting") {
		t.Errorf("a handshake before the store is open: %v", err)
	}
	logs.Reset()
	// an expired certificate: the server starts, says so, and takes new files
	expCert, expKey := writeCertUntil(t, t.TempDir(), 3, time.Now().Add(-time.Minute))
	if cfg, _, err := apiTLSConfig(Config{APITLSCert: expCert, APITLSKey: expKey}, loop, log); err != nil || cfg == nil || !strings.Contains(logs.String(), "expired on") {
		t.Errorf("an expired certificate at start: %v %v, logs %s", cfg, err, logs.String())
	}
	logs.Reset()
	if cfg, _, err := apiTLSConfig(Config{}, loop, log); cfg != nil || err != nil || logs.Len() != 0 {
		t.Fatalf("plain HTTP on loopback: %v %v, logs %s", cfg, err, logs.String())
	}
	if _, _, err := apiTLSConfig(Config{}, &net.TCPAddr{IP: net.IPv4zero, Port: 7070}, log); err != nil || !strings.Contains(logs.String(), "clear text") || !strings.Contains(logs.String(), "--api-tls-cert") {
		t.Fatalf("plain HTTP on 0.0.0.0: %v, logs %s", err, logs.String())
	}
	cfg, _, err := apiTLSConfig(Config{APITLSCert: certFile, APITLSKey: keyFile}, &net.TCPAddr{IP: net.IPv4zero, Port: 7070}, log)
	if err != nil || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("with a certificate: %v %v", cfg, err)
	}
}
