package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tendhq/tend/internal/acmetest"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// testCert is a self-signed certificate for hosts, as PEM, and a pool that trusts it.
func testCert(t *testing.T, hosts ...string) (certPEM, keyPEM string, roots *x509.CertPool) {
	t.Helper()
	p := acmetest.SelfSigned(t, acmetest.Cert{Hosts: hosts})
	return p.CertPEM, p.KeyPEM, p.Roots()
}

// startTLS serves g on a plain and an HTTPS listener and returns their addresses.
func startTLS(t *testing.T, g *Gateway, rt Routing) (plain, secure string) {
	t.Helper()
	srv := NewServer(g, ServerOptions{})
	g.Apply(rt)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { _ = srv.Serve(ln); done <- struct{}{} }()
	go func() { _ = srv.ServeTLS(tln, g.TLSConfig()); done <- struct{}{} }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		<-done
		g.proxy.Transport.(*http.Transport).CloseIdleConnections()
	})
	return ln.Addr().String(), tln.Addr().String()
}

// httpsClient dials addr whatever the URL's host, trusting roots, over HTTP/2 when h2.
func httpsClient(addr string, roots *x509.CertPool, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}, Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP1(!h2)
	tr.Protocols.SetHTTP2(h2)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestHTTPSChoosesTheCertificateBySNIAndSpeaksH2AndHTTP1(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := New(Options{Registerer: reg})
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Header.Get("X-Forwarded-Proto"), r.Method)
	})
	other := startBackend(t, "other", nil)
	appCert, appKey, appRoots := testCert(t, "app.test")
	otherCert, otherKey, _ := testCert(t, "other.test")
	_, secure := startTLS(t, g, Routing{
		Routes: []route.Route{{App: "app", Hosts: []string{"app.test"}, PathPrefix: "/", TLS: &route.TLS{Auto: true}},
			{App: "other", Hosts: []string{"other.test"}, PathPrefix: "/", TLS: &route.TLS{Auto: true}}},
		Endpoints: []store.Endpoint{b.endpoint("app", 1), other.endpoint("other", 1)},
		Certs: []store.Certificate{{Host: "app.test", CertPEM: appCert, KeyPEM: appKey},
			{Host: "other.test", CertPEM: otherCert, KeyPEM: otherKey}},
	})
	for _, h2 := range []bool{false, true} {
		c := httpsClient(secure, appRoots, h2)
		for _, method := range []string{"GET", "POST"} { // POST: net/http's path, after the loop read the head
			req, _ := http.NewRequest(method, "https://app.test/", strings.NewReader("x"))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("h2=%v %s: %v", h2, method, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantProto := 1
			if h2 {
				wantProto = 2
			}
			if resp.StatusCode != 200 || string(body) != "https "+method || resp.ProtoMajor != wantProto {
				t.Errorf("h2=%v %s: %d %s %q, want 200 HTTP/%d \"https %s\"", h2, method, resp.StatusCode, resp.Proto, body, wantProto, method)
			}
		}
	}
	// a name with no certificate, or no name at all, never gets another app's
	for _, name := range []string{"unknown.test", ""} {
		conn, err := tls.Dial("tcp", secure, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err == nil {
			got := conn.ConnectionState().PeerCertificates[0].DNSNames
			conn.Close()
			t.Errorf("SNI %q: handshake succeeded with a certificate for %v, want it refused", name, got)
		}
	}
	if n := testutil.ToFloat64(g.metrics.handshakes.WithLabelValues("unknown_host")); n != 1 {
		t.Errorf("unknown_host handshake errors = %v, want 1", n)
	}
	if n := testutil.ToFloat64(g.metrics.handshakes.WithLabelValues("no_sni")); n != 1 {
		t.Errorf("no_sni handshake errors = %v, want 1", n)
	}
}

func TestPlainHTTPIsRedirectedButACMEChallengesAreAnswered(t *testing.T) {
	g := New(Options{HTTPSPort: 8443})
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/own" {
			w.Header().Set("Strict-Transport-Security", "max-age=60")
		}
		fmt.Fprint(w, "b")
	})
	cert, key, roots := testCert(t, "app.test")
	plain, secure := startTLS(t, g, Routing{
		Routes: []route.Route{{App: "app", Hosts: []string{"app.test"}, PathPrefix: "/",
			TLS: &route.TLS{Auto: true, Redirect: true, HSTS: 365 * 24 * time.Hour}},
			{App: "plain", Hosts: []string{"plain.test"}, PathPrefix: "/"}},
		Endpoints:  []store.Endpoint{b.endpoint("app", 1), b.endpoint("plain", 1)},
		Certs:      []store.Certificate{{Host: "app.test", CertPEM: cert, KeyPEM: key}},
		Challenges: []Challenge{{Kind: "http-01", Host: "app.test", Token: "tok123", KeyAuth: "tok123.thumb"}},
	})
	req, _ := http.NewRequest("GET", "http://"+plain+"/a/b?c=1", nil)
	req.Host = "app.test"
	resp, err := httpsClient(plain, nil, false).Do(req) // a client that does not follow redirects
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	code, h := resp.StatusCode, resp.Header
	if code != http.StatusPermanentRedirect || h.Get("Location") != "https://app.test:8443/a/b?c=1" {
		t.Errorf("plain GET: %d Location %q, want 308 to https://app.test:8443/a/b?c=1", code, h.Get("Location"))
	}
	if code, body, _ := do(t, "GET", "http://"+plain+"/.well-known/acme-challenge/tok123", "Host", "app.test"); code != 200 || body != "tok123.thumb" {
		t.Errorf("the ACME challenge: %d %q, want 200 with the key authorization", code, body)
	}
	if code, body, _ := do(t, "GET", "http://"+plain+"/", "Host", "plain.test"); code != 200 || body != "b" {
		t.Errorf("an app without TLS: %d %q, want 200 from its instance", code, body)
	}
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/", "max-age=31536000"}, // the loop hands it to net/http's path, which adds it
		{"POST", "/", "max-age=31536000"},
		{"GET", "/own", "max-age=60"}, // the app's own wins
		{"POST", "/own", "max-age=60"},
	} {
		req, _ := http.NewRequest(c.method, "https://app.test"+c.path, strings.NewReader("x"))
		resp, err := httpsClient(secure, roots, false).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Values("Strict-Transport-Security"); resp.StatusCode != 200 || len(got) != 1 || got[0] != c.want {
			t.Errorf("HTTPS %s %s: %d Strict-Transport-Security %q, want 200 with %s once", c.method, c.path, resp.StatusCode, got, c.want)
		}
	}
	if code, _, h := do(t, "GET", "http://"+plain+"/", "Host", "plain.test"); h.Get("Strict-Transport-Security") != "" || code != 200 {
		t.Errorf("plain HTTP: %d with Strict-Transport-Security %q, want none", code, h.Get("Strict-Transport-Security"))
	}
}

func TestTLSALPNChallengeIsAnsweredOnlyToAValidator(t *testing.T) {
	g := New(Options{})
	chCert, chKey, _ := testCert(t, "new.test")
	_, secure := startTLS(t, g, Routing{
		Challenges: []Challenge{{Kind: "tls-alpn-01", Host: "new.test", CertPEM: chCert, KeyPEM: chKey}},
	})
	conn, err := tls.Dial("tcp", secure, &tls.Config{ServerName: "new.test", NextProtos: []string{acmeTLS1}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("a validator's handshake: %v", err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != acmeTLS1 {
		t.Errorf("negotiated %q, want %s", p, acmeTLS1)
	}
	conn.Close()
	if conn, err := tls.Dial("tcp", secure, &tls.Config{ServerName: "new.test", InsecureSkipVerify: true}); err == nil {
		conn.Close()
		t.Error("a browser got the challenge certificate, want the handshake refused")
	}
}

// FuzzCertificateForSNI: whatever server name a client sends, the gateway either fails
// the handshake or shows a certificate valid for that name: never another app's.
func FuzzCertificateForSNI(f *testing.F) {
	var certs []store.Certificate
	for _, h := range []string{"app.test", "*.shop.test", "other.test"} {
		p := acmetest.SelfSigned(f, acmetest.Cert{Hosts: []string{h}})
		certs = append(certs, store.Certificate{Host: h, CertPEM: p.CertPEM, KeyPEM: p.KeyPEM})
	}
	g := New(Options{})
	g.Apply(Routing{Certs: certs})
	for _, seed := range []string{"app.test", "APP.test.", "a.shop.test", "a.b.shop.test", "shop.test", "other.test", "", "app.test\x00", "xapp.test"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c, err := g.certificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil {
			return
		}
		leaf, perr := x509.ParseCertificate(c.Certificate[0])
		if perr != nil {
			t.Fatal(perr)
		}
		if verr := leaf.VerifyHostname(strings.ToLower(strings.TrimSuffix(name, "."))); verr != nil {
			t.Fatalf("SNI %q got the certificate for %v: %v", name, leaf.DNSNames, verr)
		}
	})
}
