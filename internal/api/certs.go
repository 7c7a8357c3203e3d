package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
)

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
	out := make([]v1.Certificate, 0, len(recs))
	now := time.Now()
	for _, c := range recs {
		if visible(r, c.App) {
			out = append(out, wireCertificate(c, now))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Certificates lists the gateway's certificates.
func (c *Client) Certificates(ctx context.Context) ([]v1.Certificate, error) {
	var v []v1.Certificate
	return v, c.getJSON(ctx, http.MethodGet, "/v1/certs", nil, &v)
}
