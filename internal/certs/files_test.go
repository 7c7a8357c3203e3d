package certs

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

func TestLoadPair(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	certFile, keyFile := writePair(t, dir, "good", 1, []string{"example.test", "*.example.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	chainPEM, keyPEM, leaf, err := LoadPair(certFile, keyFile, []string{"example.test", "a.example.test", "*.example.test", "EXAMPLE.test"})
	if err != nil {
		t.Fatal(err)
	}
	if leaf.SerialNumber.Int64() != 1 || !strings.HasPrefix(string(chainPEM), "-----BEGIN CERTIFICATE-----") || !strings.HasPrefix(string(keyPEM), "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("LoadPair: serial %v, chain %q, key %q", leaf.SerialNumber, trim(string(chainPEM)), trim(string(keyPEM)))
	}

	_, otherKey := writePair(t, dir, "other", 2, []string{"example.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	expiredCert, expiredKey := writePair(t, dir, "expired", 3, []string{"example.test"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	for _, c := range []struct {
		name              string
		certFile, keyFile string
		hosts             []string
		want              []string // in the error
	}{
		{"key not matching", certFile, otherKey, []string{"example.test"}, []string{otherKey, certFile, "not the key"}},
		{"expired", expiredCert, expiredKey, []string{"example.test"}, []string{expiredCert, "expired on", "ago"}},
		{"host not covered", certFile, keyFile, []string{"example.test", "other.test"}, []string{certFile, "does not cover other.test", "example.test, *.example.test"}},
		{"wildcard one level only", certFile, keyFile, []string{"a.b.example.test"}, []string{certFile, "does not cover a.b.example.test"}},
		{"other wildcard", certFile, keyFile, []string{"*.other.test"}, []string{certFile, "does not cover *.other.test"}},
		{"missing cert file", filepath.Join(dir, "none.crt"), keyFile, nil, []string{filepath.Join(dir, "none.crt"), "route.tls.cert"}},
		{"missing key file", certFile, filepath.Join(dir, "none.key"), nil, []string{filepath.Join(dir, "none.key"), "route.tls.key"}},
		{"key file given as cert", keyFile, keyFile, nil, []string{keyFile, "no PEM certificate"}},
		{"cert file given as key", certFile, certFile, nil, []string{certFile, "no PEM private key"}},
	} {
		_, _, _, err := LoadPair(c.certFile, c.keyFile, c.hosts)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.name, err, w)
			}
		}
	}
}

func TestFileCertificatesFollowTheirFilesAndRoutes(t *testing.T) {
	defer func(d time.Duration) { pollInterval = d }(pollInterval)
	pollInterval = 100 * time.Millisecond
	s := openStore(t)
	dir := t.TempDir()
	now := time.Now()
	hosts := []string{"a.test", "b.test"}
	certFile, keyFile := writePair(t, dir, "site", 1, hosts, now.Add(-time.Hour), now.Add(24*time.Hour))
	putRoute(t, s, route.Route{App: "web", Hosts: hosts, PathPrefix: "/", TLS: &route.TLS{CertFile: certFile, KeyFile: keyFile}})
	m, _ := startManager(t, Options{Directory: "https://127.0.0.1:1/dir", Store: s, Logger: quietLogger()})

	serialOf := func(c store.Certificate) int64 {
		if c.CertPEM == "" {
			return 0
		}
		return chain(t, c.CertPEM)[0].SerialNumber.Int64()
	}
	for _, h := range hosts {
		rec := waitRecord(t, s, h, 10*time.Second, func(c store.Certificate) bool { return serialOf(c) == 1 })
		if rec.Source != store.CertFromFile || rec.App != "web" || rec.CertFile != certFile || rec.KeyFile != keyFile ||
			rec.Issuer != "a.test" || rec.KeyPEM == "" || rec.LastError != "" || rec.Obtained.IsZero() || !rec.RenewAt.IsZero() {
			t.Fatalf("%s's record: %+v", h, rec)
		}
	}

	// New files: the records follow within the poll.
	writePair(t, dir, "site", 2, hosts, now.Add(-time.Hour), now.Add(48*time.Hour))
	for _, h := range hosts {
		waitRecord(t, s, h, 5*time.Second, func(c store.Certificate) bool { return serialOf(c) == 2 && c.LastError == "" })
	}

	// Bad new files: the records keep the certificate and say what is wrong.
	_, otherKey := writePair(t, dir, "other", 3, hosts, now.Add(-time.Hour), now.Add(48*time.Hour))
	b := readTestFile(t, otherKey)
	writeFile(t, keyFile, b)
	for _, h := range hosts {
		rec := waitRecord(t, s, h, 5*time.Second, func(c store.Certificate) bool { return c.LastError != "" })
		if serialOf(rec) != 2 || rec.Failures != 1 || !strings.Contains(rec.LastError, keyFile) {
			t.Fatalf("%s's record after a bad key: serial %d, failures %d, lastError %q", h, serialOf(rec), rec.Failures, rec.LastError)
		}
	}
	if v := metricValue(t, m.Collector(), "tend_certificate_renewal_failures", "a.test"); v != 1 {
		t.Fatalf("tend_certificate_renewal_failures{host=a.test} %v, want 1", v)
	}
	// Records that are steady are not written again at each poll.
	var before, after store.Certificate
	_ = s.Get(context.Background(), store.CertKey("a.test"), &before)
	time.Sleep(5 * pollInterval)
	_ = s.Get(context.Background(), store.CertKey("a.test"), &after)
	if !after.LastErrorAt.Equal(before.LastErrorAt) || after.Failures != before.Failures {
		t.Fatalf("a steady bad record was rewritten: %+v then %+v", before, after)
	}

	// The route gone, so are its records.
	if err := s.Delete(context.Background(), store.RouteKey("web")); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		waitGone(t, s, h, 5*time.Second)
	}
}

// The record of a host no route claims any more is kept (marked unclaimed, not served)
// for a while, and claimed again as it was: a rollback to a revision without TLS and
// back orders nothing.
func TestAnUnclaimedHostKeepsItsRecordForAWhile(t *testing.T) {
	defer func(d time.Duration) { unclaimedFor = d }(unclaimedFor)
	unclaimedFor = time.Hour
	s := openStore(t)
	dir := t.TempDir()
	now := time.Now()
	certFile, keyFile := writePair(t, dir, "site", 1, []string{"a.test"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	route := route.Route{App: "web", Hosts: []string{"a.test"}, PathPrefix: "/", TLS: &route.TLS{CertFile: certFile, KeyFile: keyFile}}
	putRoute(t, s, route)
	startManager(t, Options{Directory: "https://127.0.0.1:1/dir", Store: s, Logger: quietLogger()})
	first := waitRecord(t, s, "a.test", 10*time.Second, func(c store.Certificate) bool { return c.CertPEM != "" })
	plain := route
	plain.TLS = nil
	putRoute(t, s, plain)
	gone := waitRecord(t, s, "a.test", 10*time.Second, func(c store.Certificate) bool { return !c.Unclaimed.IsZero() })
	if gone.CertPEM != first.CertPEM {
		t.Fatal("the unclaimed record lost its certificate")
	}
	putRoute(t, s, route)
	back := waitRecord(t, s, "a.test", 10*time.Second, func(c store.Certificate) bool { return c.Unclaimed.IsZero() })
	if back.CertPEM != first.CertPEM || !back.Obtained.Equal(first.Obtained) {
		t.Errorf("claimed again, the record was replaced: obtained %s, first %s", back.Obtained, first.Obtained)
	}
}
