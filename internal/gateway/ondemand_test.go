package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// onDemandRouting routes *.shop.test to an app with tls.onDemand and plain.test to one
// with tls.auto alone.
func onDemandRouting(b *backendServer, certs ...store.Certificate) Routing {
	return Routing{
		Routes: []route.Route{
			{App: "shop", Hosts: []string{"*.shop.test"}, PathPrefix: "/", TLS: &route.TLS{Auto: true, OnDemand: "http://approve.test/allow"}},
			{App: "plain", Hosts: []string{"plain.test"}, PathPrefix: "/", TLS: &route.TLS{Auto: true}},
		},
		Endpoints: []store.Endpoint{b.endpoint("shop", 1), b.endpoint("plain", 1)},
		Certs:     certs,
	}
}

// handshake is the outcome of a TLS handshake with the gateway as name.
type handshake struct {
	names []string // the certificate's
	err   error
	took  time.Duration
}

func dialTLS(addr, name string, roots *x509.CertPool) handshake {
	start := time.Now()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	h := handshake{err: err}
	if err == nil {
		h.names = c.ConnectionState().PeerCertificates[0].DNSNames
		c.Close()
	}
	h.took = time.Since(start)
	return h
}

func TestOnDemandHandshakeWaitsForTheCertificate(t *testing.T) {
	defer func(d time.Duration) { onDemandWait = d }(onDemandWait)
	onDemandWait = 10 * time.Second
	reg := prometheus.NewRegistry()
	g := New(Options{Registerer: reg})
	b := startBackend(t, "b", nil)
	_, secure := startTLS(t, g, onDemandRouting(b))
	certPEM, keyPEM, roots := testCert(t, "a.shop.test")

	done := make(chan handshake, 1)
	go func() { done <- dialTLS(secure, "a.shop.test", roots) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wanted := g.Wanted(ctx, 0, 5*time.Second)
	if len(wanted) != 1 || wanted[0].Host != "a.shop.test" || wanted[0].App != "shop" || wanted[0].Seq == 0 {
		t.Fatalf("wanted while the handshake waits: %+v, want a.shop.test of shop", wanted)
	}
	select {
	case h := <-done:
		t.Fatalf("the handshake ended before the certificate came: %+v", h)
	case <-time.After(300 * time.Millisecond):
	}
	// a routing without it, then with it: the handshake goes on with the new certificate
	g.Apply(onDemandRouting(b))
	g.Apply(onDemandRouting(b, store.Certificate{Host: "a.shop.test", App: "shop", OnDemand: true, CertPEM: certPEM, KeyPEM: keyPEM}))
	h := <-done
	if h.err != nil || len(h.names) != 1 || h.names[0] != "a.shop.test" {
		t.Fatalf("handshake after the certificate came: %+v, want a certificate for a.shop.test", h)
	}
	if got := g.Wanted(ctx, 0, 0); len(got) != 0 {
		t.Errorf("wanted once the certificate is served: %+v, want none", got)
	}
	resp, err := httpsClient(secure, roots, false).Get("https://a.shop.test/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "b" {
		t.Errorf("HTTPS to a.shop.test: %d %q", resp.StatusCode, body)
	}

	// names no on-demand route claims fail at once: a route without onDemand, a name of
	// two labels more than the wildcard, a name no route has
	for _, name := range []string{"plain.test", "x.y.shop.test", "other.test"} {
		if h := dialTLS(secure, name, roots); h.err == nil || h.took > 2*time.Second {
			t.Errorf("handshake as %s: %+v, want it refused at once", name, h)
		}
	}
	if n := testutil.ToFloat64(g.metrics.handshakes.WithLabelValues("unknown_host")); n != 3 {
		t.Errorf("unknown_host handshake errors = %v, want 3", n)
	}
	if got := g.Wanted(ctx, 0, 0); len(got) != 0 {
		t.Errorf("wanted after handshakes for names without onDemand: %+v, want none", got)
	}

	// no certificate in time: the handshake fails after onDemandWait
	onDemandWait = 300 * time.Millisecond
	if h := dialTLS(secure, "late.shop.test", roots); h.err == nil || h.took < 250*time.Millisecond || h.took > 5*time.Second {
		t.Errorf("handshake as late.shop.test without a certificate coming: %+v, want it refused after 300ms", h)
	}
	if n := testutil.ToFloat64(g.metrics.handshakes.WithLabelValues("on_demand_timeout")); n != 1 {
		t.Errorf("on_demand_timeout handshake errors = %v, want 1", n)
	}
	if got := g.Wanted(ctx, 0, 0); len(got) != 1 || got[0].Host != "late.shop.test" {
		t.Errorf("wanted after a timed-out handshake: %+v, want late.shop.test (until its certificate or 2 minutes)", got)
	}
}

func TestWantedHostsAreBoundedAndExpire(t *testing.T) {
	defer func(n int, ttl time.Duration) { maxWanted, wantedTTL = n, ttl }(maxWanted, wantedTTL)
	maxWanted, wantedTTL = 2, time.Minute
	w := newWantedSet()
	now := time.Now()
	if !w.add("a.test", "x", "10.0.0.1", now) || !w.add("a.test", "x", "10.0.0.1", now) || !w.add("b.test", "x", "10.0.0.2", now) {
		t.Fatal("adding two hosts (one twice) failed")
	}
	if w.add("c.test", "x", "10.0.0.3", now) {
		t.Error("a third host was added to a set of two at most")
	}
	list, _ := w.since(0, now)
	if len(list) != 2 || list[0].Host != "a.test" || list[1].Host != "b.test" || list[0].Seq >= list[1].Seq {
		t.Fatalf("wanted: %+v, want a.test then b.test, once each", list)
	}
	if after, _ := w.since(list[0].Seq, now); len(after) != 1 || after[0].Host != "b.test" {
		t.Errorf("wanted after a.test: %+v, want b.test", after)
	}
	later := now.Add(time.Minute)
	if !w.add("c.test", "x", "10.0.0.3", later) {
		t.Error("a host was refused once the others expired")
	}
	if list, _ := w.since(0, later); len(list) != 1 || list[0].Host != "c.test" {
		t.Errorf("wanted a minute later: %+v, want c.test alone", list)
	}
}

func TestOnDemandClaims(t *testing.T) {
	g := New(Options{})
	od := &route.TLS{Auto: true, OnDemand: "https://approve.test/"}
	g.SetState([]route.Route{
		{App: "shops", Hosts: []string{"*.shops.test"}, PathPrefix: "/", TLS: od},
		{App: "api", Hosts: []string{"*.api.shops.test", "www.shops.test"}, PathPrefix: "/", TLS: &route.TLS{Auto: true}},
		{App: "any", PathPrefix: "/", TLS: od},
	}, nil)
	for host, want := range map[string]string{
		"a.shops.test":      "shops",
		"x.a.shops.test":    "", // two labels more than *.shops.test
		"www.shops.test":    "", // api lists it: its certificate is ordered at deploy
		"v1.api.shops.test": "",
		"customer.com":      "any", // no other route claims it
		"shops.test":        "any",
		"localhost":         "", // not a name of two labels
		"127.0.0.1":         "",
		"a_b.example.com":   "",
	} {
		app, ok := g.table.Load().onDemandApp(host)
		if app != want || ok != (want != "") {
			t.Errorf("on-demand app of %s: %q %v, want %q", host, app, ok, want)
		}
	}
}

func TestWantedEndpointLongPolls(t *testing.T) {
	dir := t.TempDir()
	g := New(Options{})
	p := &process{g: g, reg: prometheus.NewRegistry()}
	ln, err := net.Listen("unix", filepath.Join(dir, "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p.controlHandler()}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c := NewClient(dir)
	defer c.CloseIdle()
	ctx := context.Background()

	start := time.Now()
	if got, err := c.Wanted(ctx, 200*time.Millisecond, 0); err != nil || len(got) != 0 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("wanted with none: %+v %v after %s, want an empty list after the wait", got, err, time.Since(start))
	}
	type result struct {
		list []WantedHost
		err  error
	}
	polled := make(chan result, 1)
	go func() {
		l, err := c.Wanted(ctx, 10*time.Second, 0)
		polled <- result{l, err}
	}()
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	g.wanted.add("a.shop.test", "shop", "10.0.0.1", time.Now())
	r := <-polled
	if r.err != nil || len(r.list) != 1 || r.list[0].Host != "a.shop.test" || r.list[0].App != "shop" || time.Since(start) > 2*time.Second {
		t.Fatalf("long poll when a host is wanted: %+v %v after %s, want a.shop.test at once", r.list, r.err, time.Since(start))
	}
	seq := r.list[0].Seq
	if got, err := c.Wanted(ctx, 100*time.Millisecond, seq); err != nil || len(got) != 0 {
		t.Errorf("wanted after the last seq seen: %+v %v, want none", got, err)
	}
	if got, err := c.Wanted(ctx, time.Second, 0); err != nil || len(got) != 1 {
		t.Errorf("wanted from the start: %+v %v, want a.shop.test again (still not served)", got, err)
	}
	for _, q := range []string{"wait=forever", "wait=1h", "after=x"} {
		req, _ := http.NewRequest("GET", "http://gateway/v1/wanted?"+q, nil)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /v1/wanted?%s: %d, want 400", q, resp.StatusCode)
		}
	}
}

// One client cannot fill the wanted set: beyond maxWantedPerClient hosts of its own, its
// handshakes fail at once, and other clients' hosts are still taken.
func TestOneClientCannotFillTheWantedHosts(t *testing.T) {
	w := newWantedSet()
	now := time.Now()
	for i := 0; i < maxWantedPerClient; i++ {
		if !w.add(fmt.Sprintf("h%d.test", i), "x", "10.0.0.1", now) {
			t.Fatalf("host %d of one client refused, want %d taken", i, maxWantedPerClient)
		}
	}
	if w.add("one-more.test", "x", "10.0.0.1", now) {
		t.Errorf("host %d of one client taken, want refused", maxWantedPerClient+1)
	}
	if !w.add("other.test", "x", "10.0.0.2", now) {
		t.Error("another client's host refused")
	}
}

// A host the server refused fails its waiting handshake at once, and its next ones.
func TestADeniedOnDemandHostFailsAtOnce(t *testing.T) {
	g := New(Options{})
	g.Apply(Routing{Routes: []route.Route{{App: "shop", Hosts: []string{"*.shop.test"}, PathPrefix: "/",
		TLS: &route.TLS{Auto: true, OnDemand: "https://approve.test/"}}}})
	done := make(chan error, 1)
	start := time.Now()
	go func() { _, err := g.awaitOnDemand("x.shop.test", "shop", "10.0.0.1"); done <- err }()
	time.Sleep(100 * time.Millisecond)
	g.Apply(Routing{Routes: []route.Route{{App: "shop", Hosts: []string{"*.shop.test"}, PathPrefix: "/",
		TLS: &route.TLS{Auto: true, OnDemand: "https://approve.test/"}}}, Denied: []string{"x.shop.test"}})
	if err := <-done; err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("the waiting handshake of a denied host: %v after %s, want a failure at once", err, time.Since(start))
	}
	start = time.Now()
	if _, err := g.awaitOnDemand("x.shop.test", "shop", "10.0.0.1"); err == nil || time.Since(start) > time.Second {
		t.Errorf("a new handshake of a denied host: %v after %s, want a failure at once", err, time.Since(start))
	}
	if list, _ := g.wanted.since(0, time.Now()); len(list) != 0 {
		t.Errorf("a denied host is still wanted: %+v", list)
	}
}
