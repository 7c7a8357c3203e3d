package dataplane_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/acmetest"
	"github.com/tendhq/tend/internal/dataplane"
	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// getHTTPS fetches / from addr over HTTPS as host, trusting roots.
func getHTTPS(addr, host string, roots *x509.CertPool) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
	return body(c, "https://"+host+"/")
}

func TestHTTPSOutlivesGatewayRestartsAndAdoption(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	addr, https := freeAddr(t), freeAddr(t)
	routeBackend(t, st, "one")
	pair := acmetest.SelfSigned(t, acmetest.Cert{Hosts: []string{"hello.test"}})
	certPEM, keyPEM, roots := pair.CertPEM, pair.KeyPEM, pair.Roots()
	ctx := context.Background()
	if err := st.Put(ctx, store.RouteKey("hello"), route.Route{App: "hello", Hosts: []string{"hello.test"}, PathPrefix: "/",
		TLS: &route.TLS{Auto: true}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, store.CertKey("hello.test"), store.Certificate{Host: "hello.test", App: "hello", Source: store.CertFromACME,
		CertPEM: certPEM, KeyPEM: keyPEM}); err != nil {
		t.Fatal(err)
	}
	p := dataplane.New(dataplane.Options{DataDir: dir, Addr: addr, HTTPSAddr: https, Store: st})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx, false)
	if p.HTTPSAddr() != https {
		t.Fatalf("HTTPS on %q, want %s", p.HTTPSAddr(), https)
	}
	serves := func(what string) {
		t.Helper()
		eventually(t, what, func() error {
			body, err := getHTTPS(https, "hello.test", roots)
			if err == nil && body != "one" {
				err = fmt.Errorf("answered %q", body)
			}
			return err
		})
	}
	serves("the store's certificate reaches the gateway")

	// an ACME challenge is answered once Present returns
	ch := gateway.Challenge{Kind: "http-01", Host: "hello.test", Token: "tok", KeyAuth: "tok.key"}
	if err := p.Present(ctx, ch); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/.well-known/acme-challenge/tok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "tok.key" {
		t.Errorf("the challenge right after Present: %d %q, want 200 tok.key", resp.StatusCode, body)
	}
	p.CleanUp(ctx, ch)

	first := p.PID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new gateway", func() error {
		if p.PID() == first {
			return fmt.Errorf("still pid %d", first)
		}
		return nil
	})
	serves("HTTPS on the same socket after kill -9")

	// a kept gateway is adopted with its HTTPS socket
	second := p.PID()
	if err := p.Stop(ctx, true); err != nil {
		t.Fatal(err)
	}
	next := dataplane.New(dataplane.Options{DataDir: dir, Addr: addr, HTTPSAddr: https, Store: st})
	if err := next.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer next.Stop(ctx, false)
	if next.PID() != second {
		t.Errorf("the next plane runs gateway %d, want the kept %d adopted", next.PID(), second)
	}
	if got := next.Listeners(); got[gateway.ListenerHTTPS] == nil || got[gateway.ListenerHTTP] == nil {
		t.Errorf("the adopting plane holds sockets %v, want both", got)
	}
	serves("HTTPS after adoption")
}
