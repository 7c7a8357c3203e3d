package api

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/acmetest"
	"github.com/tendhq/tend/internal/api/v1"
)

// testCA makes a CA and a server certificate it signs for 127.0.0.1; it returns the
// server's certificate and the path of the CA's PEM file.
func testCA(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	ca := acmetest.SelfSigned(t, acmetest.Cert{Hosts: []string{"ca.tend.test"}})
	leaf := ca.Sign(t, acmetest.Cert{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	cert, err := tls.X509KeyPair([]byte(leaf.CertPEM), []byte(leaf.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte(ca.CertPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, caFile
}

func TestClientVerifiesTheServerAgainstTheCAFile(t *testing.T) {
	cert, caFile := testCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, v1.VersionInfo{Version: "test", API: v1.Version})
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	ctx := context.Background()

	hc, err := NewHTTPClient(caFile, "")
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{Base: srv.URL, Token: "t", HTTP: hc}
	if v, err := c.Version(ctx); err != nil || v.Version != "test" {
		t.Fatalf("with the CA file: %+v %v", v, err)
	}

	// without it, the system's roots do not know the CA: refused, with what to do
	hc, err = NewHTTPClient("", "")
	if err != nil {
		t.Fatal(err)
	}
	c = &Client{Base: srv.URL, Token: "t", HTTP: hc}
	_, err = c.Version(ctx)
	if err == nil || !strings.Contains(err.Error(), "does not verify against the system's roots") || !strings.Contains(err.Error(), "--ca-file") {
		t.Fatalf("without the CA file: %v, want a refusal that names --ca-file", err)
	}

	// another CA's file does not do either, and the error says which file was used
	_, otherCA := testCA(t)
	hc, err = NewHTTPClient(otherCA, "")
	if err != nil {
		t.Fatal(err)
	}
	c = &Client{Base: srv.URL, Token: "t", HTTP: hc, Trust: "the CA file " + otherCA}
	if _, err = c.Version(ctx); err == nil || !strings.Contains(err.Error(), otherCA) {
		t.Fatalf("with another CA: %v, want a refusal naming %s", err, otherCA)
	}

	// the right CA, a name the certificate is not for
	hc, _ = NewHTTPClient(caFile, "")
	c = &Client{Base: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), Token: "t", HTTP: hc}
	if _, err = c.Version(ctx); err == nil || !strings.Contains(err.Error(), "certificate for other names") {
		t.Fatalf("another name: %v", err)
	}
	// ... verified for a name it is for (--tls-server-name)
	hc, _ = NewHTTPClient(caFile, "127.0.0.1")
	c.HTTP = hc
	if _, err = c.Version(ctx); err != nil {
		t.Fatalf("another name, verified for the certificate's: %v", err)
	}
}

func TestCAFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{notPEM, filepath.Join(dir, "missing.pem")} {
		if _, err := NewHTTPClient(f, ""); err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("NewHTTPClient(%s): %v, want an error naming the file", f, err)
		}
	}
}

func TestAnswersSayWhereTheTokenCameFromAndWhichScheme(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{Token: "right"}))
	defer srv.Close()
	c := &Client{Base: srv.URL, Token: "wrong", TokenFrom: "TEND_TOKEN"}
	_, err := c.Apps(context.Background())
	if !strings.Contains(err.Error(), "this CLI sent the token from TEND_TOKEN") {
		t.Fatalf("401: %v", err)
	}

	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	c = &Client{Base: strings.Replace(tlsSrv.URL, "https://", "http://", 1), Token: "t"}
	if _, err := c.Apps(context.Background()); err == nil || !strings.Contains(err.Error(), "use an https:// API URL") {
		t.Fatalf("http:// to an HTTPS server: %v", err)
	}
	c = &Client{Base: strings.Replace(srv.URL, "http://", "https://", 1), Token: "t"}
	if _, err := c.Apps(context.Background()); err == nil || !strings.Contains(err.Error(), "use an http:// URL") {
		t.Fatalf("https:// to an HTTP server: %v", err)
	}
}
