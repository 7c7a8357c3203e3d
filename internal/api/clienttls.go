package api

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// NewHTTPClient is an HTTP client for the API that verifies an https:// server's
// certificate against the system's roots, or, with caFile, against the PEM certificates
// in caFile alone (a private CA, or a self-signed server certificate). With serverName,
// the certificate is verified for that name, and asked for by it, whatever the URL's
// host (an API reached by its IP address, or on loopback). It never skips the
// verification.
func NewHTTPClient(caFile, serverName string) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pool, err := loadCAFile(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr}, nil
}

// loadCAFile reads the certificates of a PEM file into a pool.
func loadCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the CA file %s: %w (give the PEM file of the CA that signed the tend server's certificate)", path, err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d in the CA file %s: %w (the file must hold PEM certificates)", n+1, path, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("the CA file %s holds no PEM certificate: give the PEM file of the CA that signed the tend server's certificate", path)
	}
	return pool, nil
}

// tlsError explains a request that failed on TLS: a certificate that does not verify,
// or an https:// URL to a server that speaks plain HTTP. It is nil for other errors.
func (c *Client) tlsError(err error) error {
	trust := c.Trust
	if trust == "" {
		trust = "the system's roots"
	}
	var (
		host    x509.HostnameError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &host):
		return fmt.Errorf("the tend server at %s has a certificate for other names: %w; use an API URL with a name the certificate is for, pass --tls-server-name NAME (or set TEND_TLS_SERVER_NAME) with one of them, or give the server a certificate for this one", c.Base, err)
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &verify):
		return fmt.Errorf("the tend server's certificate at %s does not verify against %s: %w; if a private CA signed it (or it is self-signed), pass --ca-file CA.pem, set TEND_CA_FILE, or give the context one (tend context add NAME --api URL --ca-file CA.pem)", c.Base, trust, err)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("reach the tend server at %s: %w (its API speaks plain HTTP: use an http:// URL, or start it with --api-tls-cert and --api-tls-key)", c.Base, err)
	}
	return nil
}

// answerHint is what the client adds to an error answer: which token it sent on a 401,
// and the scheme to use when a plain HTTP request reached an HTTPS server.
func (c *Client) answerHint(code int, body []byte) string {
	switch {
	case code == http.StatusUnauthorized && c.TokenFrom != "" && (bytes.Contains(body, []byte("revoked")) || bytes.Contains(body, []byte("expired"))):
		return fmt.Sprintf(" (this CLI sent the token from %s: ask for a new one)", c.TokenFrom)
	case code == http.StatusUnauthorized && c.TokenFrom != "":
		return fmt.Sprintf(" (this CLI sent the token from %s: check that it is this server's)", c.TokenFrom)
	case code == http.StatusBadRequest && strings.Contains(string(body), "HTTP request to an HTTPS server"):
		return " (the tend server's API speaks HTTPS: use an https:// API URL)"
	}
	return ""
}
