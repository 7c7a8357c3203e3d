package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tendhq/tend/internal/acmetest"
	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

func TestMain(m *testing.M) {
	unclaimedFor = 0 // a host no route claims loses its record at once, unless a test says otherwise
	goleak.VerifyTestMain(m)
}

// fakeGateway answers the challenges the Manager presents, as the gateway would:
// http-01 on an HTTP listener and tls-alpn-01 on a TLS one, both on 127.0.0.1.
type fakeGateway struct {
	httpPort, tlsPort int

	mu        sync.Mutex
	keyAuths  map[string]string           // token → key authorization
	certs     map[string]*tls.Certificate // host → tls-alpn-01 certificate
	presented []gateway.Challenge
	wrong     map[string]bool // kinds answered wrongly
}

func newFakeGateway(t *testing.T) *fakeGateway {
	g := &fakeGateway{keyAuths: map[string]string{}, certs: map[string]*tls.Certificate{}, wrong: map[string]bool{}}

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.httpPort = hl.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(g.serveHTTP01), ReadHeaderTimeout: 5 * time.Second}
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		_ = srv.Serve(hl)
	}()

	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.tlsPort = tl.Addr().(*net.TCPAddr).Port
	tlsLn := tls.NewListener(tl, &tls.Config{NextProtos: []string{"acme-tls/1"}, GetCertificate: g.alpnCert})
	var conns sync.WaitGroup
	tlsDone := make(chan struct{})
	go func() {
		defer close(tlsDone)
		for {
			c, err := tlsLn.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_ = c.(*tls.Conn).Handshake()
			})
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-httpDone
		tlsLn.Close()
		<-tlsDone
		conns.Wait()
	})
	return g
}

func (g *fakeGateway) serveHTTP01(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, "/.well-known/acme-challenge/")
	g.mu.Lock()
	ka, found := g.keyAuths[token]
	g.mu.Unlock()
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write([]byte(ka))
}

func (g *fakeGateway) alpnCert(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !slices.Contains(hello.SupportedProtos, "acme-tls/1") {
		return nil, errors.New("not an acme-tls/1 client")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.certs[hello.ServerName]
	if !ok {
		return nil, fmt.Errorf("no challenge for %q", hello.ServerName)
	}
	return c, nil
}

func (g *fakeGateway) Present(_ context.Context, ch gateway.Challenge) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.presented = append(g.presented, ch)
	switch ch.Kind {
	case HTTP01:
		ka := ch.KeyAuth
		if g.wrong[HTTP01] {
			ka += "-wrong"
		}
		g.keyAuths[ch.Token] = ka
	case TLSALPN01:
		if g.wrong[TLSALPN01] {
			return nil // not answered
		}
		c, err := tls.X509KeyPair([]byte(ch.CertPEM), []byte(ch.KeyPEM))
		if err != nil {
			return fmt.Errorf("challenge certificate: %w", err)
		}
		g.certs[ch.Host] = &c
	default:
		return fmt.Errorf("unknown challenge kind %q", ch.Kind)
	}
	return nil
}

func (g *fakeGateway) CleanUp(_ context.Context, ch gateway.Challenge) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.keyAuths, ch.Token)
	delete(g.certs, ch.Host)
}

// kinds are the kinds of the challenges presented so far.
func (g *fakeGateway) kinds() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ks []string
	for _, c := range g.presented {
		ks = append(ks, c.Kind)
	}
	return ks
}

func (g *fakeGateway) setWrong(kind string, wrong bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wrong[kind] = wrong
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))
}

// testLogger logs to the test's output (shown on failure or with -v).
func testLogger(t *testing.T) *slog.Logger { return slog.New(slog.NewJSONHandler(t.Output(), nil)) }

// startManager runs a Manager until the returned stop (or t's end).
func startManager(t *testing.T, o Options) (*Manager, func()) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return m, stop
}

func putRoute(t *testing.T, s *store.Store, r route.Route) {
	t.Helper()
	if err := s.Put(context.Background(), store.RouteKey(r.App), r); err != nil {
		t.Fatal(err)
	}
}

// waitRecord waits until host's record satisfies ok, and returns it.
func waitRecord(t *testing.T, s *store.Store, host string, timeout time.Duration, ok func(store.Certificate) bool) store.Certificate {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var rec store.Certificate
	var err error
	for {
		rec = store.Certificate{}
		err = s.Get(context.Background(), store.CertKey(host), &rec)
		if err == nil && ok(rec) {
			return rec
		}
		if time.Now().After(deadline) {
			rec.CertPEM, rec.KeyPEM = trim(rec.CertPEM), trim(rec.KeyPEM)
			t.Fatalf("%s's record after %s: %+v (err %v)", host, timeout, rec, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone waits until host has no record.
func waitGone(t *testing.T, s *store.Store, host string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var rec store.Certificate
		err := s.Get(context.Background(), store.CertKey(host), &rec)
		if errors.Is(err, store.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's record still there after %s: %+v (err %v)", host, timeout, rec.Host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// chain parses a record's PEM chain.
func chain(t *testing.T, certPEM string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for rest := []byte(certPEM); ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("no certificate in %q", trim(certPEM))
	}
	return out
}

// verifyChain checks a record's chain against roots for host, and its key.
func verifyChain(t *testing.T, rec store.Certificate, roots *x509.CertPool, host string) *x509.Certificate {
	t.Helper()
	certs := chain(t, rec.CertPEM)
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("the chain of %s does not verify: %v", host, err)
	}
	if _, err := tls.X509KeyPair([]byte(rec.CertPEM), []byte(rec.KeyPEM)); err != nil {
		t.Fatalf("the key of %s: %v", host, err)
	}
	if !strings.HasPrefix(rec.KeyPEM, "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("key of %s is not PKCS#8: %q", host, trim(rec.KeyPEM))
	}
	return certs[0]
}

// writePair writes a self-signed certificate for names, valid from notBefore to
// notAfter, and its key, into dir as NAME.crt and NAME.key.
func writePair(t *testing.T, dir, name string, serial int64, names []string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	p := acmetest.SelfSigned(t, acmetest.Cert{Hosts: names, NotBefore: notBefore, NotAfter: notAfter, Serial: serial})
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, []byte(p.CertPEM))
	writeFile(t, keyFile, []byte(p.KeyPEM))
	return certFile, keyFile
}

// writeFile replaces path with b (atomically), with an mtime later than the file had,
// so that a change within the file system's timestamp granularity is seen.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	mtime := time.Now()
	if fi, err := os.Stat(path); err == nil && !fi.ModTime().Before(mtime) {
		mtime = fi.ModTime().Add(time.Second)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
