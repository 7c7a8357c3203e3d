package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

func TestFastPathDropsHopByHopHeadersAndAppendsForwardedFor(t *testing.T) {
	var got http.Header
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Secret-Hop", "x")
		w.Header().Set("Connection", "X-Secret-Hop")
		fmt.Fprint(w, "ok")
	})
	url := serve(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	code, body, h := do(t, "GET", url, "Connection", "X-Private", "X-Private", "p", "Keep-Alive", "300",
		"X-Forwarded-For", "203.0.113.7", "Te", "trailers", "X-Keep", "k")
	if code != 200 || body != "ok" {
		t.Fatalf("GET: %d %q", code, body)
	}
	for _, hop := range []string{"Connection", "X-Private", "Keep-Alive", "Te"} {
		if v := got.Get(hop); v != "" {
			t.Errorf("backend got hop-by-hop header %s: %q", hop, v)
		}
	}
	if got.Get("X-Keep") != "k" || got.Get("X-Forwarded-For") != "203.0.113.7, 127.0.0.1" {
		t.Errorf("backend headers %v: want X-Keep and X-Forwarded-For appended", got)
	}
	if h.Get("X-Secret-Hop") != "" || h.Get("Keep-Alive") != "" || h.Get("X-Backend") != "b" {
		t.Errorf("client got %v: want the backend's headers without its hop-by-hop ones", h)
	}
}

func TestFastPathReconnectsWhenTheBackendClosedAKeptConnection(t *testing.T) {
	b := startBackend(t, "b", nil)
	g := New(Options{})
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	for i := 0; i < 5; i++ {
		if code, body, _ := do(t, "GET", url); code != 200 || body != "b" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		// the backend drops every idle connection, as a server with a short idle timeout does
		b.CloseClientConnections()
	}
	if code, _, _ := do(t, "HEAD", url); code != 200 {
		t.Fatalf("HEAD after the connections were closed: %d", code)
	}
}

func TestFastPathKeepsConnectionsAndPostTakesTheProxy(t *testing.T) {
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, body)
	})
	g := New(Options{})
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	for i := 0; i < 20; i++ {
		if code, body, _ := do(t, "GET", url); code != 200 || body != "GET " {
			t.Fatalf("GET %d: %d %q", i, code, body)
		}
	}
	resp, err := http.Post(url, "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "POST payload" {
		t.Fatalf("POST through the gateway: %q", body)
	}
	g.bmu.Lock()
	be := g.backends[b.Listener.Addr().String()]
	g.bmu.Unlock()
	be.conns.mu.Lock()
	idle := len(be.conns.idle)
	be.conns.mu.Unlock()
	if idle != 1 {
		t.Errorf("%d kept connections after 20 sequential GETs, want 1 (reused)", idle)
	}
}

func TestFastPathGivesUpWhenTheClientLeaves(t *testing.T) {
	canceled := make(chan struct{})
	b := startBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(10 * time.Second):
		}
	})
	url := serve(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the request should have timed out on the client")
	}
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend's request was not cancelled after the client left")
	}
}
