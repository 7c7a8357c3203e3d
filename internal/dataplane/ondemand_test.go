package dataplane_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/acmetest"
	"github.com/tendhq/tend/internal/dataplane"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// TestOnDemandHostsReachTheServerAndTheirCertificatesTheGateway: a handshake for a host
// of a route with tls.onDemand makes the plane call OnDemand once, and waits until the
// certificate OnDemand records reaches the gateway; after the gateway was killed, its
// successor's wanted hosts come through too.
func TestOnDemandHostsReachTheServerAndTheirCertificatesTheGateway(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	addr, https := freeAddr(t), freeAddr(t)
	ctx := context.Background()
	if err := st.Put(ctx, store.RouteKey("shop"), route.Route{App: "shop", Hosts: []string{"*.shop.test"}, PathPrefix: "/",
		TLS: &route.TLS{Auto: true, OnDemand: "https://approve.test/"}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := map[string]int{}
	roots := map[string]*tls.Config{}
	issue := func(host, app string) bool {
		mu.Lock()
		calls[host+" "+app]++
		mu.Unlock()
		time.Sleep(200 * time.Millisecond) // an approval and an order take a while
		pair := acmetest.SelfSigned(t, acmetest.Cert{Hosts: []string{host}})
		mu.Lock()
		roots[host] = &tls.Config{ServerName: host, RootCAs: pair.Roots()}
		mu.Unlock()
		if err := st.Put(ctx, store.CertKey(host), store.Certificate{Host: host, App: app, Source: store.CertFromACME,
			OnDemand: true, CertPEM: pair.CertPEM, KeyPEM: pair.KeyPEM}); err != nil {
			t.Error(err)
		}
		return false
	}
	p := dataplane.New(dataplane.Options{DataDir: dir, Addr: addr, HTTPSAddr: https, Store: st, OnDemand: issue})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx, false)

	// two clients at once for the same new host: one call, both get its certificate
	handshake := func(host string) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 25 * time.Second}, "tcp", https, &tls.Config{ServerName: host, InsecureSkipVerify: true})
		if err != nil {
			return err
		}
		defer c.Close()
		mu.Lock()
		cfg := roots[host]
		mu.Unlock()
		if got := c.ConnectionState().PeerCertificates[0]; cfg == nil || got.VerifyHostname(host) != nil {
			t.Errorf("handshake as %s: a certificate for %v", host, got.DNSNames)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() { errs <- handshake("a.shop.test") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("handshake as a.shop.test: %v", err)
		}
	}
	mu.Lock()
	if n := calls["a.shop.test shop"]; n != 1 || len(calls) != 1 {
		t.Errorf("OnDemand calls: %v, want a.shop.test of shop once", calls)
	}
	mu.Unlock()

	// the gateway dies: its successor's wanted hosts reach OnDemand too
	first := p.PID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new gateway", func() error {
		if p.PID() == first {
			return errStill
		}
		return nil
	})
	start := time.Now()
	eventually(t, "a handshake as b.shop.test", func() error { return handshake("b.shop.test") })
	t.Logf("b.shop.test's certificate after a gateway restart in %s", time.Since(start).Round(time.Millisecond))
	if err := handshake("a.shop.test"); err != nil {
		t.Errorf("a.shop.test after the restart: %v", err)
	}
	mu.Lock()
	if n := calls["b.shop.test shop"]; n != 1 || calls["a.shop.test shop"] != 1 {
		t.Errorf("OnDemand calls: %v, want a.shop.test and b.shop.test of shop once each", calls)
	}
	mu.Unlock()
}

var errStill = errors.New("still the same gateway")
