package gateway

import (
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/store"
)

// FuzzLookup checks route matching on any host and path: it never panics, and a match
// obeys its route: the path starts with the route's prefix, and the host is one of the
// route's hosts, matches its wildcard, or the route claims no host.
func FuzzLookup(f *testing.F) {
	routes := []store.Route{
		{App: "api", Hosts: []string{"example.com"}, PathPrefix: "/api"},
		{App: "web", Hosts: []string{"example.com"}, PathPrefix: "/"},
		{App: "shop", Hosts: []string{"*.shop.test"}, PathPrefix: "/"},
		{App: "any", PathPrefix: "/"},
		{App: "docs", PathPrefix: "/docs"},
	}
	hosts := map[string][]string{}
	prefix := map[string]string{}
	for _, r := range routes {
		hosts[r.App], prefix[r.App] = r.Hosts, r.PathPrefix
	}
	g := New(Options{})
	g.SetState(routes, nil)
	t := g.table.Load()
	for _, seed := range [][2]string{{"example.com", "/api/x"}, {"EXAMPLE.COM:80", "/"}, {"a.shop.test", "/"}, {"[::1]:8080", "/docs/"}, {"", ""}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(tt *testing.T, host, path string) {
		h := normalHost(host)
		r := t.lookup(h, path)
		if r == nil {
			if strings.HasPrefix(path, "/") {
				tt.Fatalf("no route for %q %q although an app takes every host under /", host, path)
			}
			return
		}
		if !strings.HasPrefix(path, prefix[r.app]) {
			tt.Fatalf("%q %q routed to %s whose prefix is %s", host, path, r.app, prefix[r.app])
		}
		ok := len(hosts[r.app]) == 0
		for _, want := range hosts[r.app] {
			ok = ok || want == h || (strings.HasPrefix(want, "*.") && strings.HasSuffix(h, want[1:]))
		}
		if !ok {
			tt.Fatalf("%q (%q) routed to %s, which does not claim it", host, h, r.app)
		}
	})
}
