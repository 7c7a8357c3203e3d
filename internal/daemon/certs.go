package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/certs"
	"github.com/tendhq/tend/internal/dataplane"
	"github.com/tendhq/tend/internal/store"
)

// openCerts makes the certificate manager when the gateway serves HTTPS or the API's
// certificate comes from the CA (nil otherwise): it obtains and renews the routes' and
// the server's certificates, and the gateway answers the ACME challenges.
func openCerts(cfg Config, st *store.Store, plane *dataplane.Plane, reg prometheus.Registerer, log *slog.Logger) (*certs.Manager, error) {
	if cfg.HTTPSAddr == "" && len(serverHosts(cfg)) == 0 {
		return nil, nil
	}
	var challenges []string // the default: HTTP-01, then TLS-ALPN-01 on the HTTPS listener
	if cfg.HTTPSAddr == "" {
		challenges = []string{certs.HTTP01} // no listener for TLS-ALPN-01
	}
	m, err := certs.New(certs.Options{Directory: cfg.ACMEDirectory, Email: cfg.ACMEEmail, CAFile: cfg.ACMECAFile,
		Store: st, Solver: plane, Logger: log, ServerHosts: serverHosts(cfg), Challenges: challenges})
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	reg.MustRegister(m.Collector())
	return m, nil
}

// certList is the API's view of the certificates (nil without HTTPS).
func certList(m *certs.Manager) func(context.Context) ([]store.Certificate, error) {
	if m == nil {
		return nil
	}
	return m.Certificates
}
