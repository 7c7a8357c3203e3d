package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// APITLSAuto as --api-tls-cert orders the API's certificate for --api-host from the
// ACME CA: the certificate manager keeps it in the store beside the routes' (app
// certs.ServerApp), and the API serves the stored one.
const APITLSAuto = "auto"

// APIServerNameFile, in the data dir, holds --api-host while the API serves the
// certificate ordered for it.
const APIServerNameFile = "api-server-name"

// checkAPIHost says what is wrong with name as --api-host.
func checkAPIHost(name string) error {
	switch {
	case name == "":
		return errors.New("--api-tls-cert auto needs --api-host NAME: the DNS name clients reach the API by, which its certificate is ordered for")
	case net.ParseIP(name) != nil:
		return fmt.Errorf("--api-host %s: an ACME CA issues certificates for DNS names, not IP addresses; give the API's DNS name, or a certificate with --api-tls-cert FILE --api-tls-key FILE", name)
	case strings.Contains(name, "*"):
		return fmt.Errorf("--api-host %s: give one DNS name, not a wildcard", name)
	case !strings.Contains(strings.Trim(name, "."), "."):
		return fmt.Errorf("--api-host %s: give the API's fully qualified DNS name (like tend.example.com)", name)
	}
	return nil
}

// storedAPICert serves the API's certificate record from the store, read again at a
// handshake once recheck has passed (a renewal lands there).
type storedAPICert struct {
	host    string
	recheck time.Duration
	log     *slog.Logger
	st      atomic.Pointer[store.Store] // set once the store is open

	mu      sync.Mutex
	cert    *tls.Certificate
	certPEM string
	checked time.Time
	warned  string // the last state logged, so that each is logged once
}

func (c *storedAPICert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert != nil && time.Since(c.checked) < c.recheck {
		return c.cert, nil
	}
	st := c.st.Load()
	if st == nil {
		return c.cert, fmt.Errorf("the API's certificate for %s is not read yet: the server is starting", c.host)
	}
	c.checked = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var rec store.Certificate
	err := st.Get(ctx, store.CertKey(c.host), &rec)
	switch {
	case err == nil && rec.CertPEM != "":
	case c.cert != nil:
		return c.cert, nil // the store is slow, or the record is being replaced: keep the last
	case errors.Is(err, store.ErrNotFound) || (err == nil && rec.LastError == ""):
		return nil, fmt.Errorf("the API's certificate for %s is not issued yet (tend certs shows its order)", c.host)
	case err == nil:
		return nil, fmt.Errorf("the API's certificate for %s is not issued: %s", c.host, rec.LastError)
	default:
		return nil, fmt.Errorf("read the API's certificate for %s: %w", c.host, err)
	}
	if rec.CertPEM == c.certPEM {
		return c.cert, nil
	}
	pair, err := tls.X509KeyPair([]byte(rec.CertPEM), []byte(rec.KeyPEM))
	if err != nil {
		if c.warned != rec.CertPEM {
			c.warned = rec.CertPEM
			c.log.Error("the API's stored certificate does not load; serving the previous one", "host", c.host, "err", err)
		}
		if c.cert == nil {
			return nil, fmt.Errorf("the API's stored certificate for %s does not load: %w", c.host, err)
		}
		return c.cert, nil
	}
	c.cert, c.certPEM = &pair, rec.CertPEM
	c.log.Info("the API serves its certificate from the ACME CA", "host", c.host, "issuer", rec.Issuer, "notAfter", rec.NotAfter)
	return c.cert, nil
}

// serverHosts are the names the certificate manager orders for the server itself.
func serverHosts(cfg Config) []string {
	if cfg.APITLSCert == APITLSAuto {
		return []string{strings.ToLower(strings.TrimSuffix(cfg.APIHost, "."))}
	}
	return nil
}
