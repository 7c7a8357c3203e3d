package controller

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// A deploy that gives its app another app's host is refused unless the caller may share
// hosts (an admin); nothing is recorded for the refused app.
func TestAnotherAppsHostIsRefusedUnlessShared(t *testing.T) {
	c, _, st := newController(t)
	ctx := context.Background()
	a := Source{File: "/tmp/a.yaml", Text: []byte("app: a\nbuild: {binary: /bin/a}\nroute: {hosts: [a.example.com]}\n")}
	if _, err := c.DeploySource(ctx, a, io.Discard); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if routes, err := store.List[route.Route](ctx, st, store.RoutesPrefix); err == nil && len(routes) == 1 && len(routes[0].Hosts) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("app a's route was not written")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := Source{File: "/tmp/b.yaml", Text: []byte("app: b\nbuild: {binary: /bin/b}\nroute: {hosts: [b.example.com, a.example.com], pathPrefix: /login}\n")}
	_, err := c.DeploySource(ctx, b, io.Discard)
	var taken *HostTakenError
	if !errors.As(err, &taken) || taken.Owner != "a" || taken.Host != "a.example.com" {
		t.Fatalf("b taking a's host: %v", err)
	}
	if _, err := c.Status(ctx, "b"); !errors.Is(err, ErrUnknownApp) {
		t.Errorf("the refused deploy left app b: %v", err)
	}
	b.ShareHosts = true
	if _, err := c.DeploySource(ctx, b, io.Discard); err != nil {
		t.Errorf("an admin's deploy sharing a's host: %v", err)
	}
}

// A host under another app's wildcard, or a narrower wildcard, takes that app's
// requests (the gateway prefers it); a wider wildcard does not.
func TestTakes(t *testing.T) {
	for _, c := range []struct {
		mine, theirs string
		want         bool
	}{
		{"a.example.com", "a.example.com", true},
		{"shop.example.com", "*.example.com", true},
		{"*.eu.example.com", "*.example.com", true},
		{"*.example.com", "*.example.com", true},
		{"*.example.com", "shop.example.com", false}, // the exact host stays theirs
		{"*.com", "*.example.com", false},
		{"example.com", "*.example.com", false},
		{"b.example.org", "*.example.com", false},
	} {
		if got := takes(c.mine, c.theirs); got != c.want {
			t.Errorf("takes(%q, %q) = %v, want %v", c.mine, c.theirs, got, c.want)
		}
	}
}
