package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/test/harness"
)

// TestTLSOnDemandIssuesAtTheFirstHandshake: a route with tls.onDemand for *.shop.test
// gets no certificate at deploy; a TLS client for a.shop.test, which the approval URL
// allows, waits in its first handshake for a certificate Pebble issues then, and gets it;
// one for b.shop.test, which the URL denies, fails its handshake, and has no record.
func TestTLSOnDemandIssuesAtTheFirstHandshake(t *testing.T) {
	plain, secure, pebble := pebbleFor(t, 0)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pebble.RootsPEM(t))

	var mu sync.Mutex
	asked := map[string]int{}
	approval := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.URL.Query().Get("host")
		mu.Lock()
		asked[host]++
		mu.Unlock()
		if host != "a.shop.test" {
			http.Error(w, "not a shop of ours", http.StatusForbidden)
		}
	}))
	defer approval.Close()
	askedAbout := func(host string) int {
		mu.Lock()
		defer mu.Unlock()
		return asked[host]
	}

	s := startServerWith(t, harness.Config{Bin: tendBin, DataDir: t.TempDir(), Gateway: plain,
		Args: []string{"--https", secure, "--acme-directory", pebble.Directory, "--acme-ca-file", pebble.CAFile}})
	s.mustTend("deploy", "-f", writeSpec(t, t.TempDir(), specWith("1", rolling)+
		`route: {hosts: ["*.shop.test"], tls: {auto: true, onDemand: "`+approval.URL+`/allow-tls"}}`+"\n"))
	if certs := s.certs(); len(certs) != 0 {
		t.Fatalf("certificates after the deploy: %+v, want none (on demand only)", certs)
	}

	type result struct {
		cert *x509.Certificate
		err  error
		took time.Duration
	}
	dial := func(host string) result {
		start := time.Now()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 40 * time.Second}, "tcp", secure, &tls.Config{ServerName: host, RootCAs: roots})
		r := result{err: err}
		if err == nil {
			r.cert = c.ConnectionState().PeerCertificates[0]
			c.Close()
		}
		r.took = time.Since(start)
		return r
	}
	var a, b result
	var wg sync.WaitGroup
	wg.Go(func() { a = dial("a.shop.test") })
	wg.Go(func() { b = dial("b.shop.test") })
	wg.Wait()
	t.Logf("a.shop.test: handshake in %s; b.shop.test: refused after %s (%v)", a.took.Round(time.Millisecond), b.took.Round(time.Millisecond), b.err)
	if a.err != nil {
		t.Fatalf("the first handshake as a.shop.test: %v, want it to wait for its certificate", a.err)
	}
	if !strings.Contains(a.cert.Issuer.CommonName, "Pebble") || a.cert.VerifyHostname("a.shop.test") != nil {
		t.Errorf("a.shop.test got a certificate for %v issued by %q, want Pebble's for a.shop.test", a.cert.DNSNames, a.cert.Issuer.CommonName)
	}
	if b.err == nil {
		t.Errorf("b.shop.test, denied, got a certificate for %v", b.cert.DNSNames)
	}
	resp, err := httpsTo(secure, roots).Get("https://a.shop.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HTTPS to a.shop.test: %d, want 200 from hello", resp.StatusCode)
	}
	if c := validCert(t, s, "a.shop.test", 10*time.Second); c.Source != "acme" || !c.OnDemand || c.App != "hello" {
		t.Errorf("a.shop.test's record: %+v, want an on-demand acme certificate of hello", c)
	}
	for _, c := range s.certs() {
		if c.Host != "a.shop.test" {
			t.Errorf("a record for %s (%s: %s), want a.shop.test's alone", c.Host, c.State, c.LastError)
		}
	}
	if n := askedAbout("b.shop.test"); n != 1 {
		t.Errorf("the approval URL was asked %d times about b.shop.test, want once", n)
	}
	if n := askedAbout("a.shop.test"); n != 1 {
		t.Errorf("the approval URL was asked %d times about a.shop.test, want once", n)
	}
	// the served certificate is Pebble's, verified like any other
	if serial := servedSerial(t, secure, "a.shop.test", roots); serial != a.cert.SerialNumber.String() {
		t.Errorf("a.shop.test now served with serial %s, want the one of its first handshake (%s)", serial, a.cert.SerialNumber)
	}
}
