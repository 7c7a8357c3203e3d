package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// Certificate is what `tend certs` shows of one host's certificate (never its key).
type Certificate struct {
	Host   string `json:"host"`
	App    string `json:"app"`
	Source string `json:"source"` // acme or file
	// State is valid, pending (not obtained yet), failing (the last attempt failed;
	// a valid certificate may still be served), expired, or unclaimed (no route has the
	// host: kept a week unserved, in case one does again).
	State       string    `json:"state"`
	Issuer      string    `json:"issuer,omitempty"`
	NotAfter    time.Time `json:"notAfter,omitzero"`
	Obtained    time.Time `json:"obtained,omitzero"`
	RenewAt     time.Time `json:"renewAt,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	Failures    int       `json:"failures,omitempty"`
	CertFile    string    `json:"certFile,omitempty"`
	// OnDemand: issued at the host's first TLS handshake, approved by route.tls.onDemand.
	OnDemand bool `json:"onDemand,omitempty"`
}

// certificate is the wire form of a stored certificate record.
func certificate(c store.Certificate, now time.Time) Certificate {
	out := Certificate{Host: c.Host, App: c.App, Source: c.Source, Issuer: c.Issuer, NotAfter: c.NotAfter,
		Obtained: c.Obtained, RenewAt: c.RenewAt, LastError: c.LastError, LastErrorAt: c.LastErrorAt,
		Failures: c.Failures, CertFile: c.CertFile, OnDemand: c.OnDemand}
	switch {
	case !c.Unclaimed.IsZero():
		out.State = "unclaimed" // no route has the host: kept a week, not served
	case c.NotAfter.IsZero():
		out.State = "pending"
	case !now.Before(c.NotAfter):
		out.State = "expired"
	case c.LastError != "":
		out.State = "failing"
	default:
		out.State = "valid"
	}
	return out
}

func (s *server) certs(w http.ResponseWriter, r *http.Request) {
	if s.o.Certs == nil {
		writeError(w, http.StatusNotFound, errors.New("this tend server has no HTTPS listener, so no certificates: start it with --https ADDR"))
		return
	}
	recs, err := s.o.Certs(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]Certificate, 0, len(recs))
	now := time.Now()
	for _, c := range recs {
		out = append(out, certificate(c, now))
	}
	writeJSON(w, http.StatusOK, out)
}

// Certificates lists the gateway's certificates.
func (c *Client) Certificates(ctx context.Context) ([]Certificate, error) {
	var v []Certificate
	return v, c.getJSON(ctx, http.MethodGet, "/v1/certs", nil, &v)
}
