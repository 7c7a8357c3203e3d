package certs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/acmetest"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// approver is an approval URL that approves the hosts in ok, and counts the questions.
type approver struct {
	*httptest.Server
	mu    sync.Mutex
	asked map[string]int
	keys  []string // the key parameter of each question
}

func newApprover(t *testing.T, ok ...string) *approver {
	a := &approver{asked: map[string]int{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.URL.Query().Get("host")
		a.mu.Lock()
		a.asked[host]++
		a.keys = append(a.keys, r.URL.Query().Get("key"))
		a.mu.Unlock()
		for _, h := range ok {
			if h == host {
				w.WriteHeader(http.StatusOK)
				return
			}
		}
		http.Error(w, "not ours", http.StatusForbidden)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *approver) count(host string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.asked[host]
}

func onDemandRoute(app, approvalURL string, hosts ...string) route.Route {
	return route.Route{App: app, Hosts: hosts, PathPrefix: "/", TLS: &route.TLS{Auto: true, OnDemand: approvalURL}}
}

func TestOnDemandCertificatesForApprovedHostsOnly(t *testing.T) {
	defer func(n int) { maxOnDemand = n }(maxOnDemand)
	gw := newFakeGateway(t)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: gw.httpPort, TLSPort: gw.tlsPort})
	s := openStore(t)
	ap := newApprover(t, "ok.test", "more.test")
	// shop takes every host no other app claims; site lists its own; the wildcard of
	// shops is a pattern of names, never ordered itself
	putRoute(t, s, onDemandRoute("shop", ap.URL+"/allow?key=secret"))
	putRoute(t, s, route.Route{App: "site", Hosts: []string{"site.test"}, PathPrefix: "/"})
	putRoute(t, s, onDemandRoute("shops", ap.URL+"/allow", "*.shops.test"))
	m, _ := startManager(t, Options{Directory: p.Directory, CAFile: p.CAFile, Store: s, Solver: gw})

	m.Want("OK.test.", "shop")
	rec := waitRecord(t, s, "ok.test", 30*time.Second, func(c store.Certificate) bool { return c.CertPEM != "" })
	verifyChain(t, rec, p.Roots(t), "ok.test")
	if !rec.OnDemand || rec.App != "shop" || rec.Source != store.CertFromACME || rec.Failures != 0 {
		t.Fatalf("on-demand record: onDemand %v app %q source %q failures %d", rec.OnDemand, rec.App, rec.Source, rec.Failures)
	}
	if n := ap.count("ok.test"); n != 1 {
		t.Errorf("the approval URL was asked %d times about ok.test, want once", n)
	}
	if ap.keys[0] != "secret" {
		t.Errorf("the approval URL's own query was lost: key %q", ap.keys[0])
	}
	if m.Want("ok.test", "shop") { // has its record: no question
		t.Error("a host with its record was denied")
	}
	if n := ap.count("ok.test"); n != 1 {
		t.Errorf("asked %d times about a host with a record, want once", n)
	}

	// denied: no record, and not asked again within the minute
	if !m.Want("bad.test", "shop") || !m.Want("bad.test", "shop") {
		t.Error("a host the approval URL refuses was not reported denied (the gateway would keep its handshakes waiting)")
	}
	if n := ap.count("bad.test"); n != 1 {
		t.Errorf("the approval URL was asked %d times about bad.test, want once (the denial is remembered)", n)
	}
	// claimed by an app without onDemand, or a name of two labels more than a wildcard:
	// not even asked
	m.Want("site.test", "shop")
	m.Want("a.b.shops.test", "shops")
	if n := ap.count("site.test") + ap.count("a.b.shops.test"); n != 0 {
		t.Errorf("the approval URL was asked about hosts no on-demand route claims (%d)", n)
	}
	// beyond the bound of on-demand certificates of an app: refused before asking
	maxOnDemand = 1
	m.Want("more.test", "shop")
	if n := ap.count("more.test"); n != 0 {
		t.Errorf("asked about more.test beyond the bound of on-demand certificates (%d)", n)
	}
	m.Kick()
	time.Sleep(500 * time.Millisecond)
	for _, h := range []string{"bad.test", "site.test", "a.b.shops.test", "more.test", "*.shops.test"} {
		var c store.Certificate
		if err := s.Get(context.Background(), store.CertKey(h), &c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s has a record (%+v, %v), want none", h, c.LastError, err)
		}
	}
	var kept store.Certificate
	if err := s.Get(context.Background(), store.CertKey("ok.test"), &kept); err != nil || kept.CertPEM != rec.CertPEM {
		t.Fatalf("the on-demand certificate changed or went away after checks (%v)", err)
	}

	// a route of another app claiming the host now: the record goes
	putRoute(t, s, route.Route{App: "site", Hosts: []string{"site.test", "ok.test"}, PathPrefix: "/"})
	waitGone(t, s, "ok.test", 10*time.Second)
}

func TestOnDemandRecordsLiveWithTheirRoute(t *testing.T) {
	routes := []route.Route{
		onDemandRoute("shops", "https://approve.test/", "*.shops.test", "shops.test"),
		onDemandRoute("any", "https://approve.test/"),
		{App: "plain", Hosts: []string{"plain.test"}, PathPrefix: "/", TLS: &route.TLS{Auto: true}},
	}
	od := func(host, app string) store.Certificate {
		return store.Certificate{Host: host, App: app, Source: store.CertFromACME, OnDemand: true}
	}
	recs := map[string]store.Certificate{}
	for _, c := range []store.Certificate{
		od("a.shops.test", "shops"), // claimed by its wildcard
		od("x.a.shops.test", "shops"),
		od("b.shops.test", "any"), // claimed by shops, not any
		od("customer.com", "any"), // no other route claims it
		od("plain.test", "any"),   // plain lists it: plain's own record now
	} {
		recs[c.Host] = c
	}
	m := &Manager{}
	got := m.wants(routes, recs)
	want := map[string]want{
		"shops.test":   {host: "shops.test", app: "shops", auto: true},
		"plain.test":   {host: "plain.test", app: "plain", auto: true},
		"a.shops.test": {host: "a.shops.test", app: "shops", auto: true, onDemand: true},
		"customer.com": {host: "customer.com", app: "any", auto: true, onDemand: true},
	}
	if len(got) != len(want) {
		t.Errorf("wants: %+v, want %+v", got, want)
	}
	for h, w := range want {
		if got[h] != w {
			t.Errorf("wants[%s] = %+v, want %+v", h, got[h], w)
		}
	}
}
