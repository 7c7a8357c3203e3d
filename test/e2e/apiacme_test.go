package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/test/harness"
)

// apiSerial is the serial of the certificate the API at addr shows for name, verified
// against roots.
func apiSerial(addr, name string, roots *x509.CertPool) (string, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// With --api-tls-cert auto, the API's certificate comes from a real ACME CA (Pebble,
// validating HTTP-01 on the gateway's listener): the CLI on the server's machine finds
// the name to verify in the data dir; a client elsewhere verifies it with
// --tls-server-name (or fails, saying why, without it); curl gets HTTP/2 from the API;
// `tend certs` lists it; the renewal (Pebble's certificates live 30s here) reaches the
// API without a restart.
func TestTheAPIGetsItsCertificateFromAnACMECA(t *testing.T) {
	plain, _, pebble := pebbleFor(t, 30*time.Second)
	rootsPEM := pebble.RootsPEM(t)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootsPEM)
	rootsFile := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(rootsFile, rootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	const name = "api.tend.test"
	data := t.TempDir()
	// the harness's CLI reaches the API by DATA/api's https://127.0.0.1:PORT, the data
	// dir's api-server-name gives the name to verify: it serves once the certificate is issued
	s := startServerWith(t, harness.Config{DataDir: data, Gateway: plain, CAFile: rootsFile,
		Args: []string{"--api-tls-cert", "auto", "--api-host", name, "--acme-directory", pebble.Directory, "--acme-ca-file", pebble.CAFile}})
	if b, err := os.ReadFile(filepath.Join(data, "api-server-name")); err != nil || strings.TrimSpace(string(b)) != name {
		t.Errorf("DATA/api-server-name: %q %v, want %s", b, err, name)
	}
	var found bool
	for _, c := range s.certs() {
		if c.Host == name {
			found = true
			if c.App != "(server)" || c.State != "valid" || c.Source != "acme" || !strings.Contains(c.Issuer, "Pebble") {
				t.Errorf("tend certs shows the API's certificate as %+v: want app (server), valid, from Pebble", c)
			}
		}
	}
	if !found {
		t.Errorf("tend certs does not list the API's certificate: %+v", s.certs())
	}

	token, err := os.ReadFile(filepath.Join(data, "token"))
	if err != nil {
		t.Fatal(err)
	}
	c := newRemoteClient(t, s, strings.TrimSpace(string(token)))
	c.env = append(c.env, "TEND_CA_FILE="+rootsFile)
	out, err := c.run("status")
	if err == nil || !strings.Contains(out, "certificate for other names") || !strings.Contains(out, "tls-server-name") {
		t.Errorf("a client that reaches the API by an address its certificate does not name: %v\n%s", err, out)
	}
	c.must("status", "--tls-server-name", name)
	tokenFile := filepath.Join(c.dir, "prod.token")
	if err := os.WriteFile(tokenFile, token, 0o600); err != nil {
		t.Fatal(err)
	}
	c.must("context", "add", "prod", "--api", s.URL, "--token-file", tokenFile, "--tls-server-name", name, "--ca-file", rootsFile)
	// a context keeps the name (the client's environment gives no --api)
	c.api = ""
	c.must("--context", "prod", "status")

	if curl, err := exec.LookPath("curl"); err == nil {
		port := s.API[strings.LastIndex(s.API, ":")+1:]
		out, err := exec.Command(curl, "-sS", "--http2", "--cacert", rootsFile, "--resolve", name+":"+port+":127.0.0.1", "-H", "Authorization: Bearer "+strings.TrimSpace(string(token)),
			"-o", "/dev/null", "-w", "%{http_version} %{http_code}", "https://"+name+":"+port+"/v1/version").CombinedOutput()
		if err != nil || string(out) != "2 200" {
			t.Errorf("curl to the API by its name: %v %q, want HTTP/2 200", err, out)
		}
	}

	first, err := apiSerial(s.API, name, roots)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the renewed certificate at the API", func() error {
		serial, err := apiSerial(s.API, name, roots)
		if err == nil && serial == first {
			err = fmt.Errorf("still serial %s", serial)
		}
		return err
	})
	c.must("--context", "prod", "status")
}
