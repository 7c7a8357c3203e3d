package certs

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tendhq/tend/internal/acmetest"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

func autoRoute(hosts ...string) route.Route {
	return route.Route{App: "app", Hosts: hosts, PathPrefix: "/", TLS: &route.TLS{Auto: true}}
}

func TestObtainsACertificateAndKeepsItAcrossRestarts(t *testing.T) {
	gw := newFakeGateway(t)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: gw.httpPort, TLSPort: gw.tlsPort})
	s := openStore(t)
	putRoute(t, s, autoRoute("app.test"))
	o := Options{Directory: p.Directory, CAFile: p.CAFile, Email: "ops@app.test", Store: s, Solver: gw}
	m, stop := startManager(t, o)

	rec := waitRecord(t, s, "app.test", 30*time.Second, func(c store.Certificate) bool { return c.CertPEM != "" })
	leaf := verifyChain(t, rec, p.Roots(t), "app.test")
	if rec.Source != store.CertFromACME || rec.App != "app" || rec.Failures != 0 || rec.LastError != "" {
		t.Fatalf("record: source %q app %q failures %d lastError %q", rec.Source, rec.App, rec.Failures, rec.LastError)
	}
	if !rec.NotBefore.Equal(leaf.NotBefore) || !rec.NotAfter.Equal(leaf.NotAfter) || rec.Issuer != leaf.Issuer.CommonName || rec.Issuer == "" {
		t.Fatalf("record dates %s–%s issuer %q, leaf's %s–%s %q", rec.NotBefore, rec.NotAfter, rec.Issuer, leaf.NotBefore, leaf.NotAfter, leaf.Issuer.CommonName)
	}
	want := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3)
	if d := rec.RenewAt.Sub(want); d < -time.Second || d > time.Second {
		t.Fatalf("RenewAt %s, want two thirds into %s–%s (%s)", rec.RenewAt, leaf.NotBefore, leaf.NotAfter, want)
	}
	if k := gw.kinds(); !slices.Equal(k, []string{HTTP01}) {
		t.Fatalf("challenges presented: %v, want one http-01", k)
	}
	var acct store.ACMEAccount
	if err := s.Get(context.Background(), store.ACMEAccountKey, &acct); err != nil || acct.Directory != p.Directory || acct.URI == "" || acct.Email != "ops@app.test" {
		t.Fatalf("account %+v %v", acct, err)
	}

	list, err := m.Certificates(context.Background())
	if err != nil || len(list) != 1 || list[0].Host != "app.test" || list[0].CertPEM != "" || list[0].KeyPEM != "" || list[0].NotAfter.IsZero() {
		t.Fatalf("Certificates: %+v %v", list, err)
	}
	if n := testutil.CollectAndCount(m.Collector(), "tend_certificate_expiry_seconds"); n != 1 {
		t.Fatalf("tend_certificate_expiry_seconds series: %d, want 1", n)
	}
	if v := metricValue(t, m.Collector(), "tend_certificate_expiry_seconds", "app.test"); v < 80*24*3600 || v > 90*24*3600 {
		t.Fatalf("tend_certificate_expiry_seconds %v, want about 90 days", v)
	}

	// A restarted server keeps the certificate: no new order.
	stop()
	m2, _ := startManager(t, o)
	m2.Kick()
	time.Sleep(time.Second)
	m2.Kick()
	time.Sleep(500 * time.Millisecond)
	var again store.Certificate
	if err := s.Get(context.Background(), store.CertKey("app.test"), &again); err != nil || again.CertPEM != rec.CertPEM {
		t.Fatalf("after a restart the record changed (%v)", err)
	}
	if k := gw.kinds(); len(k) != 1 {
		t.Fatalf("challenges presented after a restart: %v, want no new order", k)
	}

	// A record lost is ordered again, with the account in the store.
	if err := s.Delete(context.Background(), store.CertKey("app.test")); err != nil {
		t.Fatal(err)
	}
	renewed := waitRecord(t, s, "app.test", 30*time.Second, func(c store.Certificate) bool { return c.CertPEM != "" })
	if renewed.CertPEM == rec.CertPEM || len(gw.kinds()) != 2 {
		t.Fatalf("a deleted record was not ordered again (challenges %v)", gw.kinds())
	}
	var acct2 store.ACMEAccount
	if err := s.Get(context.Background(), store.ACMEAccountKey, &acct2); err != nil || acct2 != acct {
		t.Fatalf("account after a restart: %+v %v, want the same as %+v", acct2, err, acct)
	}

	// A host no route has any more loses its record.
	if err := s.Delete(context.Background(), store.RouteKey("app")); err != nil {
		t.Fatal(err)
	}
	waitGone(t, s, "app.test", 10*time.Second)
}

func TestObtainsWithTLSALPN01(t *testing.T) {
	gw := newFakeGateway(t)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: gw.httpPort, TLSPort: gw.tlsPort})
	s := openStore(t)
	putRoute(t, s, autoRoute("app.test"))
	startManager(t, Options{Directory: p.Directory, CAFile: p.CAFile, Store: s, Solver: gw, Challenges: []string{TLSALPN01}})

	rec := waitRecord(t, s, "app.test", 30*time.Second, func(c store.Certificate) bool { return c.CertPEM != "" })
	verifyChain(t, rec, p.Roots(t), "app.test")
	if k := gw.kinds(); !slices.Equal(k, []string{TLSALPN01}) {
		t.Fatalf("challenges presented: %v, want one tls-alpn-01", k)
	}
}

func TestRenewsTwoThirdsIntoTheLifetime(t *testing.T) {
	gw := newFakeGateway(t)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: gw.httpPort, TLSPort: gw.tlsPort, Validity: 30 * time.Second})
	s := openStore(t)
	putRoute(t, s, autoRoute("app.test"))
	startManager(t, Options{Directory: p.Directory, CAFile: p.CAFile, Store: s, Solver: gw})

	first := waitRecord(t, s, "app.test", 30*time.Second, func(c store.Certificate) bool { return c.CertPEM != "" })
	serial := chain(t, first.CertPEM)[0].SerialNumber
	if life := first.NotAfter.Sub(first.NotBefore); life > 31*time.Second {
		t.Fatalf("lifetime %s, want 30s", life)
	}
	next := waitRecord(t, s, "app.test", 45*time.Second, func(c store.Certificate) bool {
		return c.CertPEM != "" && chain(t, c.CertPEM)[0].SerialNumber.Cmp(serial) != 0
	})
	verifyChain(t, next, p.Roots(t), "app.test")
	if next.Obtained.Before(first.RenewAt) {
		t.Fatalf("renewed at %s, before its RenewAt %s", next.Obtained, first.RenewAt)
	}
	if !next.RenewAt.After(first.RenewAt) || next.Failures != 0 {
		t.Fatalf("renewed record: RenewAt %s (was %s), failures %d", next.RenewAt, first.RenewAt, next.Failures)
	}
}

func TestAFailedValidationIsRecordedAndBackedOff(t *testing.T) {
	gw := newFakeGateway(t)
	gw.setWrong(HTTP01, true)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: gw.httpPort, TLSPort: gw.tlsPort})
	s := openStore(t)
	putRoute(t, s, autoRoute("app.test"))
	m, _ := startManager(t, Options{Directory: p.Directory, CAFile: p.CAFile, Store: s, Solver: gw, Logger: quietLogger()})

	rec := waitRecord(t, s, "app.test", 30*time.Second, func(c store.Certificate) bool { return c.LastError != "" })
	t.Logf("LastError: %s", rec.LastError)
	if rec.Failures != 1 || rec.CertPEM != "" || rec.Source != store.CertFromACME || rec.LastErrorAt.IsZero() {
		t.Fatalf("record: failures %d, cert %q, source %q, lastErrorAt %s", rec.Failures, trim(rec.CertPEM), rec.Source, rec.LastErrorAt)
	}
	if !strings.Contains(rec.LastError, "http-01") || !strings.Contains(rec.LastError, "key authorization") || strings.Contains(rec.LastError, "urn:ietf") {
		t.Fatalf("LastError %q, want the CA's readable problem with the challenge", rec.LastError)
	}
	if d := time.Until(rec.RenewAt); d < 30*time.Second || d > 2*time.Minute {
		t.Fatalf("RenewAt in %s, want the first backoff (1m)", d)
	}
	want := `
# HELP tend_certificate_renewal_failures Failures to obtain, renew or load the certificate of host since its last success.
# TYPE tend_certificate_renewal_failures gauge
tend_certificate_renewal_failures{host="app.test"} 1
`
	if err := testutil.CollectAndCompare(m.Collector(), strings.NewReader(want), "tend_certificate_renewal_failures"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Collector(), "tend_certificate_expiry_seconds"); n != 0 {
		t.Fatalf("tend_certificate_expiry_seconds series without a certificate: %d", n)
	}
	time.Sleep(500 * time.Millisecond)
	if k := gw.kinds(); len(k) != 1 {
		t.Fatalf("challenges presented: %v, want one attempt, then the backoff", k)
	}
}

func TestTheNextAttemptUsesTheNextChallenge(t *testing.T) {
	defer func(d time.Duration) { backoffBase = d }(backoffBase)
	backoffBase = 200 * time.Millisecond
	gw := newFakeGateway(t)
	gw.setWrong(HTTP01, true)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: gw.httpPort, TLSPort: gw.tlsPort})
	s := openStore(t)
	putRoute(t, s, autoRoute("app.test"))
	startManager(t, Options{Directory: p.Directory, CAFile: p.CAFile, Store: s, Solver: gw, Logger: quietLogger()})

	rec := waitRecord(t, s, "app.test", 30*time.Second, func(c store.Certificate) bool { return c.CertPEM != "" })
	verifyChain(t, rec, p.Roots(t), "app.test")
	if rec.Failures != 0 || rec.LastError != "" {
		t.Fatalf("after a success: failures %d, lastError %q", rec.Failures, rec.LastError)
	}
	if k := gw.kinds(); !slices.Equal(k, []string{HTTP01, TLSALPN01}) {
		t.Fatalf("challenges presented: %v, want http-01 (failed) then tls-alpn-01", k)
	}
}

func TestAWildcardHostNeedsFiles(t *testing.T) {
	s := openStore(t)
	putRoute(t, s, autoRoute("*.app.test"))
	gw := &fakeGateway{}
	startManager(t, Options{Directory: "https://127.0.0.1:1/dir", Store: s, Solver: gw, Logger: quietLogger()})
	rec := waitRecord(t, s, "*.app.test", 10*time.Second, func(c store.Certificate) bool { return c.LastError != "" })
	if rec.LastError != wildcardError || rec.CertPEM != "" {
		t.Fatalf("record: %+v", rec)
	}
	if k := gw.kinds(); len(k) != 0 {
		t.Fatalf("presented %v for a wildcard", k)
	}
}

// metricValue is the value of name{host} that c collects.
func metricValue(t *testing.T, c prometheus.Collector, name, host string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "host" && l.GetValue() == host {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{host=%q}", name, host)
	return 0
}

// A certificate from another ACME directory than the server's (--acme-directory changed,
// from a staging CA to production, say) is ordered again from the server's, though it
// is not due; it is served until the new one comes.
func TestACertificateOfAnotherDirectoryIsOrderedAgain(t *testing.T) {
	gw := newFakeGateway(t)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: gw.httpPort, TLSPort: gw.tlsPort})
	s := openStore(t)
	old := acmetest.SelfSigned(t, acmetest.Cert{Hosts: []string{"app.test"}})
	if err := s.Put(context.Background(), store.CertKey("app.test"), store.Certificate{Host: "app.test", App: "app", Source: store.CertFromACME,
		CertPEM: old.CertPEM, KeyPEM: old.KeyPEM, NotBefore: old.Leaf.NotBefore, NotAfter: old.Leaf.NotAfter,
		RenewAt: time.Now().Add(time.Hour), Directory: "https://staging.example/dir"}); err != nil {
		t.Fatal(err)
	}
	putRoute(t, s, autoRoute("app.test"))
	startManager(t, Options{Directory: p.Directory, CAFile: p.CAFile, Store: s, Solver: gw})
	rec := waitRecord(t, s, "app.test", 30*time.Second, func(c store.Certificate) bool { return c.Directory == p.Directory })
	verifyChain(t, rec, p.Roots(t), "app.test")
}
