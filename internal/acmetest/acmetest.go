// Package acmetest runs Pebble, Let's Encrypt's ACME test server, against a DNS server that answers 127.0.0.1 for every name, for tests that obtain real certificates on loopback.
package acmetest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options say how Pebble validates and issues.
type Options struct {
	// HTTPPort and TLSPort are the ports on 127.0.0.1 where Pebble validates http-01 and
	// tls-alpn-01 challenges (0: a free port, see Pebble.HTTPPort and Pebble.TLSPort).
	HTTPPort, TLSPort int
	// Validity is the lifetime of the certificates Pebble issues (0: 90 days).
	Validity time.Duration
}

// Pebble is a running Pebble.
type Pebble struct {
	// Directory is the ACME directory URL (https://127.0.0.1:PORT/dir).
	Directory string
	// CAFile is the PEM file of the CA that signed Pebble's HTTPS certificate: what an
	// ACME client must trust to reach Directory. It does not sign issued certificates
	// (see Roots).
	CAFile string
	// HTTPPort and TLSPort are the ports Pebble validates challenges on (Options', or
	// the free ones picked).
	HTTPPort, TLSPort int

	mgmt   string // https://127.0.0.1:PORT of the management API
	caPool *x509.CertPool
}

// The environment Pebble runs with: no sleep before validating, no nonces rejected at
// random, no authorization reused between orders (each order validates anew).
var pebbleEnv = []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"}

// Start runs Pebble and its DNS server until t's cleanup. It skips t when Pebble is not
// built.
func Start(t testing.TB, o Options) *Pebble {
	t.Helper()
	dir := pebbleDir(t)
	bin := filepath.Join(dir, "pebble")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("Pebble is not built: run bash tools/pebble/build.sh")
	}
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("Pebble's %s is missing beside %s: %v (run bash tools/pebble/build.sh again)", f, bin, err)
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caPool := x509.NewCertPool()
	if !caPool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in %s", filepath.Join(dir, "ca.pem"))
	}
	if o.HTTPPort == 0 {
		o.HTTPPort = freePort(t)
	}
	if o.TLSPort == 0 {
		o.TLSPort = freePort(t)
	}
	validity := o.Validity
	if validity <= 0 {
		validity = 90 * 24 * time.Hour
	}
	validitySeconds := uint64((validity + time.Second - 1) / time.Second)

	dns := startDNS(t)

	// The free ports are found by listening and closing: another process may take one in
	// between, so a Pebble that cannot listen is started again on new ones.
	var lastOut string
	for attempt := 0; attempt < 3; attempt++ {
		p := &Pebble{CAFile: filepath.Join(dir, "ca.pem"), HTTPPort: o.HTTPPort, TLSPort: o.TLSPort, caPool: caPool}
		listen, mgmt := freePort(t), freePort(t)
		p.Directory = fmt.Sprintf("https://127.0.0.1:%d/dir", listen)
		p.mgmt = fmt.Sprintf("https://127.0.0.1:%d", mgmt)
		cfg := map[string]any{"pebble": map[string]any{
			"listenAddress":           fmt.Sprintf("127.0.0.1:%d", listen),
			"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmt),
			"certificate":             filepath.Join(dir, "cert.pem"),
			"privateKey":              filepath.Join(dir, "key.pem"),
			"httpPort":                o.HTTPPort,
			"tlsPort":                 o.TLSPort,
			"keyAlgorithm":            "ecdsa",
			"profiles": map[string]any{
				"default": map[string]any{"description": "tests", "validityPeriod": validitySeconds},
			},
			"retryAfter": map[string]any{"authz": 1, "order": 1},
		}}
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		cfgFile := filepath.Join(t.TempDir(), "pebble-config.json")
		if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out, exited, err := p.run(t, bin, cfgFile, dns)
		if err == nil {
			return p
		}
		lastOut = out
		if !exited || !strings.Contains(out, "address already in use") {
			t.Fatalf("start Pebble: %v\n%s", err, out)
		}
	}
	t.Fatalf("start Pebble: its ports were taken three times\n%s", lastOut)
	return nil
}

// run starts Pebble and waits until its directory answers. On success Pebble runs until
// t's cleanup, which logs its output if t failed; on failure it is stopped, and run
// returns its output and whether it had exited by itself.
func (p *Pebble) run(t testing.TB, bin, cfgFile, dnsAddr string) (string, bool, error) {
	out := &syncBuffer{}
	cmd := exec.Command(bin, "-config", cfgFile, "-dnsserver", dnsAddr, "-strict=false")
	cmd.Env = append(os.Environ(), pebbleEnv...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "", false, fmt.Errorf("run %s: %w", bin, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-done
	}

	client := p.httpClient()
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			return out.String(), true, fmt.Errorf("pebble exited before answering: %v", waitErr)
		default:
		}
		if err := get(client, p.Directory, nil); err == nil {
			break
		} else if time.Now().After(deadline) {
			stop()
			return out.String(), false, fmt.Errorf("%s did not answer within 30s: %w", p.Directory, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("Pebble's output:\n%s", out.String())
		}
	})
	return "", false, nil
}

// RootsPEM returns the root certificate of the certificates this Pebble issues, in PEM
// (a new one at every start): what a client of the issued certificates must trust.
func (p *Pebble) RootsPEM(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	client := p.httpClient()
	defer client.CloseIdleConnections()
	if err := get(client, p.mgmt+"/roots/0", &b); err != nil {
		t.Fatalf("fetch Pebble's root: %v", err)
	}
	return b.Bytes()
}

// Roots returns the pool of RootsPEM.
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.RootsPEM(t)) {
		t.Fatal("Pebble's /roots/0 holds no PEM certificate")
	}
	return pool
}

// IntermediatesPEM returns the intermediate certificate that signs the certificates
// this Pebble issues (the chains it serves already include it).
func (p *Pebble) IntermediatesPEM(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	client := p.httpClient()
	defer client.CloseIdleConnections()
	if err := get(client, p.mgmt+"/intermediates/0", &b); err != nil {
		t.Fatalf("fetch Pebble's intermediate: %v", err)
	}
	return b.Bytes()
}

func (p *Pebble) httpClient() *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.caPool}, DisableKeepAlives: true},
	}
}

// get fetches url into w (nil: discards the body); a status other than 200 is an error.
func get(c *http.Client, url string, w io.Writer) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if w == nil {
		w = io.Discard
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// pebbleDir is $TEND_PEBBLE, or where tools/pebble/build.sh puts the version that
// tools/pebble/go.mod pins.
func pebbleDir(t testing.TB) string {
	if d := os.Getenv("TEND_PEBBLE"); d != "" {
		return d
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("find Pebble: %v (or set TEND_PEBBLE to the directory holding it)", err)
	}
	modFile := filepath.Join(root, "tools", "pebble", "go.mod")
	version, err := requiredVersion(modFile, "github.com/letsencrypt/pebble/v2")
	if err != nil {
		t.Fatalf("find Pebble's version: %v", err)
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("find Pebble: %v (or set TEND_PEBBLE)", err)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "tend", "pebble", version)
}

// repoRoot walks up from the working directory (a test's package directory) to tend's
// go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(b) == "github.com/tendhq/tend" {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module github.com/tendhq/tend above the working directory")
		}
		dir = parent
	}
}

func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// requiredVersion is the version that modFile's require lines give module.
func requiredVersion(modFile, module string) (string, error) {
	f, err := os.Open(modFile)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[0] == "require" {
			fields = fields[1:]
		}
		if len(fields) >= 2 && fields[0] == module {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", modFile, err)
	}
	return "", fmt.Errorf("%s requires no %s", modFile, module)
}

// freePort is a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output from the goroutines exec starts.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
