package gateway

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/gateway/route"
)

// FuzzLookup checks route matching on any host and path: it never panics, and a match
// obeys its route: the path starts with the route's prefix, and the host is one of the
// route's hosts, matches its wildcard, or the route claims no host.
func FuzzLookup(f *testing.F) {
	routes := []route.Route{
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

// FuzzApplyRouting: whatever routing a server pushes (or a damaged routing.json holds),
// the gateway reads it or refuses it, and applying what it read never panics, nor does
// routing a request by it. (No request is sent: the endpoints could be anywhere.)
func FuzzApplyRouting(f *testing.F) {
	f.Add([]byte(`{"format":1,"version":3,"routes":[{"app":"a","hosts":["a.test"],"pathPrefix":"/","splits":[{"revision":1,"weight":100}]}],"endpoints":[{"name":"a","address":"127.0.0.1","port":1,"metadata":{"revision":"1","instance":"x"}}]}`))
	f.Add([]byte(`{"routes":[{"app":"a","pathPrefix":"","splits":[{"revision":1,"weight":-5},{"revision":2,"weight":1000}],"preview":2,"mirror":3,"mirrorPercent":250,"tls":{"auto":true,"onDemand":"x"}}],"certs":[{"host":"*.","certPEM":"junk"}],"challenges":[{"kind":"tls-alpn-01","host":"","certPEM":"x"}],"denied":[""]}`))
	f.Add([]byte(`{"format":99}`))
	f.Add([]byte(`nul`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "routing.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r, _, ok, err := loadRouting(path)
		if err != nil || !ok {
			return
		}
		g := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		g.Apply(r)
		if rt := g.table.Load().lookup("a.test", "/x"); rt != nil {
			rt.choose(&reqHead{}, "127.0.0.1")
		}
	})
}
