package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/acmetest"
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/test/harness"
)

// certs is `tend certs -o json`.
func (s *server) certs() []v1.Certificate {
	s.t.Helper()
	var out []v1.Certificate
	if err := json.Unmarshal([]byte(s.mustTend("certs", "-o", "json")), &out); err != nil {
		s.t.Fatalf("tend certs -o json: %v", err)
	}
	return out
}

// validCert waits until host's certificate is valid and returns its record.
func validCert(t *testing.T, s *server, host string, d time.Duration) v1.Certificate {
	t.Helper()
	var got v1.Certificate
	waitFor(t, d, "a valid certificate for "+host, func() error {
		for _, c := range s.certs() {
			if c.Host == host {
				got = c
				if c.State == "valid" {
					return nil
				}
				return fmt.Errorf("%s is %s (%s)", host, c.State, c.LastError)
			}
		}
		return fmt.Errorf("no certificate record for %s yet", host)
	})
	return got
}

// httpsTo is a client that dials addr for every host and trusts roots.
func httpsTo(addr string, roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		DisableKeepAlives: true, // each request a new handshake: it sees the certificate of now
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// servedSerial is the serial of the certificate the gateway shows for host.
func servedSerial(t *testing.T, addr, host string, roots *x509.CertPool) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: host, RootCAs: roots})
	if err != nil {
		t.Fatalf("TLS to %s as %s: %v", addr, host, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestTLSAutoGetsACertificateFromAnACMECA: a route with tls: auto gets a certificate
// from a real ACME CA (Pebble, validating over HTTP-01 against the gateway's plain
// listener on loopback) at deploy; curl trusting the CA's root gets HTTP/1.1 and HTTP/2
// answers over it; plain HTTP is redirected; a restarted server places no new order;
// and the renewal (Pebble's certificates live 40s here) replaces the certificate under
// HTTPS load without a failed request.
func TestTLSAutoGetsACertificateFromAnACMECA(t *testing.T) {
	plain, secure, pebble := pebbleFor(t, 40*time.Second)
	_, plainPort, _ := net.SplitHostPort(plain)
	_, securePort, _ := net.SplitHostPort(secure)
	roots := x509.NewCertPool()
	rootsPEM := pebble.RootsPEM(t)
	roots.AppendCertsFromPEM(rootsPEM)
	rootsFile := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(rootsFile, rootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	data := t.TempDir()
	cfg := harness.Config{Bin: tendBin, DataDir: data, Gateway: plain,
		Args: []string{"--https", secure, "--acme-directory", pebble.Directory, "--acme-ca-file", pebble.CAFile, "--acme-email", "ops@hello.test"}}
	s := startServerWith(t, cfg)
	dir := t.TempDir()
	s.mustTend("deploy", "-f", writeSpec(t, dir, specWith("1", rolling)+"route: {hosts: [hello.test], tls: {auto: true, hsts: 1h}}\n"))
	first := validCert(t, s, "hello.test", 30*time.Second)
	if first.Source != "acme" || !strings.Contains(first.Issuer, "Pebble") {
		t.Errorf("certificate %+v: want source acme, issued by Pebble", first)
	}
	serial := servedSerial(t, secure, "hello.test", roots)
	if dom, ok := domIfChromium(t, strings.TrimSpace(s.mustTend("dashboard"))); ok && (!strings.Contains(dom, `data-cert="hello.test"`) || !strings.Contains(dom, `class="cert-valid"`)) {
		t.Errorf("the dashboard does not show hello.test's valid certificate:\n%s", dom)
	}

	// curl verifies it with Pebble's root, over HTTP/1.1 and HTTP/2
	if curl, err := exec.LookPath("curl"); err == nil {
		for _, v := range []string{"--http1.1", "--http2"} {
			out, err := exec.Command(curl, "-sS", v, "--cacert", rootsFile, "--resolve", "hello.test:"+securePort+":127.0.0.1",
				"-o", "/dev/null", "-w", "%{http_version} %{http_code}", "https://hello.test:"+securePort+"/").CombinedOutput()
			want := map[string]string{"--http1.1": "1.1 200", "--http2": "2 200"}[v]
			if err != nil || string(out) != want {
				t.Errorf("curl %s over HTTPS: %v %q, want %q", v, err, out, want)
			}
		}
	}
	resp, err := httpsTo(plain, nil).Get("http://hello.test:" + plainPort + "/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://hello.test:" + securePort + "/x?y=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d to %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	resp, err = httpsTo(secure, roots).Get("https://hello.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// hello (kit's middleware) sends its own Strict-Transport-Security, which wins over
	// the route's hsts: one header, not two
	if sts := resp.Header.Values("Strict-Transport-Security"); resp.StatusCode != 200 || len(sts) != 1 {
		t.Errorf("HTTPS: %d with Strict-Transport-Security %q, want 200 and the app's one header", resp.StatusCode, sts)
	}

	// a restarted server reuses the stored certificate: no new order
	s.stop()
	s = startServerWith(t, cfg)
	if again := validCert(t, s, "hello.test", 10*time.Second); !again.Obtained.Equal(first.Obtained) {
		t.Errorf("after a restart the certificate was obtained at %s, want the stored one of %s (no new order)", again.Obtained, first.Obtained)
	}
	if got := servedSerial(t, secure, "hello.test", roots); got != serial {
		t.Errorf("after a restart the gateway serves serial %s, want the stored %s", got, serial)
	}

	waitFor(t, 20*time.Second, "hello serving over HTTPS after the restart", func() error {
		resp, err := httpsTo(secure, roots).Get("https://hello.test/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})

	// the renewal, two thirds into the 40s lifetime, under HTTPS load
	var ok, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := httpsTo(secure, roots)
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("https://hello.test/")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					failures.Store(err.Error(), true)
					continue
				}
				ok.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	waitFor(t, 45*time.Second, "the certificate renewed", func() error {
		if got := servedSerial(t, secure, "hello.test", roots); got == serial {
			return fmt.Errorf("still serial %s", got)
		}
		return nil
	})
	time.Sleep(time.Second) // requests on the new certificate too
	close(stop)
	wg.Wait()
	t.Logf("HTTPS load across the renewal: %d ok, %d failed", ok.Load(), failed.Load())
	if failed.Load() > 0 {
		failures.Range(func(k, _ any) bool { t.Errorf("failed request: %s", k); return true })
	}
	if ok.Load() < 50 {
		t.Errorf("only %d requests succeeded across the renewal", ok.Load())
	}
	if c := validCert(t, s, "hello.test", 5*time.Second); !c.Obtained.After(first.Obtained) {
		t.Errorf("tend certs says obtained %s, want after the first (%s)", c.Obtained, first.Obtained)
	}
}

// pebbleFor picks the gateway's two addresses and starts Pebble validating against
// them (http-01 on the plain one, tls-alpn-01 on the HTTPS one), issuing certificates
// valid for validity (0: Pebble's default).
func pebbleFor(t *testing.T, validity time.Duration) (plain, secure string, pebble *acmetest.Pebble) {
	t.Helper()
	var err error
	if plain, err = harness.FreeAddr(); err != nil {
		t.Fatal(err)
	}
	if secure, err = harness.FreeAddr(); err != nil {
		t.Fatal(err)
	}
	_, plainPort, _ := net.SplitHostPort(plain)
	_, securePort, _ := net.SplitHostPort(secure)
	return plain, secure, acmetest.Start(t, acmetest.Options{HTTPPort: atoi(t, plainPort), TLSPort: atoi(t, securePort), Validity: validity})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatalf("not a port: %q", s)
	}
	return n
}
