package acmetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDNSAnswersLoopbackForEveryName(t *testing.T) {
	addr := startDNS(t)
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) { testResolver(t, addr, network) })
	}
}

func testResolver(t *testing.T, addr, network string) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := r.LookupIP(ctx, "ip4", "app.test")
	if err != nil || len(ips) != 1 || !ips[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("A app.test: %v %v, want 127.0.0.1", ips, err)
	}
	if ips, err := r.LookupIP(ctx, "ip6", "app.test"); len(ips) != 0 {
		t.Fatalf("AAAA app.test: %v %v, want none", ips, err)
	}
	if txt, _ := r.LookupTXT(ctx, "_acme-challenge.app.test"); len(txt) != 0 {
		t.Fatalf("TXT: %v, want none", txt)
	}
}

func TestPebbleServesItsDirectoryAndRoots(t *testing.T) {
	p := Start(t, Options{})
	if p.HTTPPort == 0 || p.TLSPort == 0 {
		t.Fatalf("ports %d %d, want free ones picked", p.HTTPPort, p.TLSPort)
	}
	ca, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	resp, err := c.Get(p.Directory)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", p.Directory, resp.Status)
	}
	roots := p.Roots(t)
	if roots == nil || len(p.IntermediatesPEM(t)) == 0 {
		t.Fatal("no roots or intermediates")
	}
}
