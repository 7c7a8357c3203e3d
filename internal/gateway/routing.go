package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// Routing is the whole routing state the server pushes to the gateway process: every
// route and every registry endpoint, as of store revision Version. Each push replaces
// the previous one (state of the world, as xDS sends it); the gateway persists the last
// one it applied, so that a gateway restarting without a server still serves.
type Routing struct {
	// Format is the version of this record's layout (routingFormat); a newer gateway
	// reads older formats.
	Format    int              `json:"format"`
	Version   int64            `json:"version"`
	Routes    []route.Route    `json:"routes"`
	Endpoints []store.Endpoint `json:"endpoints"`
	// Certs are the certificates the HTTPS listener serves, chosen by SNI (records
	// without a certificate yet are left out); Challenges the ACME challenges it answers.
	Certs      []store.Certificate `json:"certs,omitempty"`
	Challenges []Challenge         `json:"challenges,omitempty"`
	// Denied are the hosts refused an on-demand certificate for now: their handshakes
	// fail at once instead of waiting.
	Denied []string `json:"denied,omitempty"`
}

// Challenge is an ACME challenge the gateway answers while the CA validates a host:
// http-01 (Token answered with KeyAuth at /.well-known/acme-challenge/TOKEN on the plain
// listener) or tls-alpn-01 (CertPEM and KeyPEM presented for Host to a client that
// offers the acme-tls/1 protocol on the HTTPS listener).
type Challenge struct {
	Kind    string `json:"kind"` // "http-01" or "tls-alpn-01"
	Host    string `json:"host"`
	Token   string `json:"token,omitempty"`
	KeyAuth string `json:"keyAuth,omitempty"`
	CertPEM string `json:"certPEM,omitempty"`
	KeyPEM  string `json:"keyPEM,omitempty"`
}

const routingFormat = 1

// Apply installs r as the gateway's table.
func (g *Gateway) Apply(r Routing) {
	g.setDenied(r.Denied) // before the certificates, whose change wakes the waiting handshakes
	g.setTLS(r.Certs, r.Challenges)
	g.SetState(r.Routes, r.Endpoints)
}

// SaveRouting writes r to path atomically (a temporary file renamed over it).
func SaveRouting(path string, r Routing) error {
	r.Format = routingFormat
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// a name of its own: the server and the gateway may both write it
	f, err := os.CreateTemp(filepath.Dir(path), ".routing-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// loadRouting reads the routing saved at path and when it was saved; ok is false when
// there is none.
func loadRouting(path string) (r Routing, saved time.Time, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Routing{}, time.Time{}, false, nil
	}
	if err != nil {
		return Routing{}, time.Time{}, false, err
	}
	if st, err := os.Stat(path); err == nil {
		saved = st.ModTime()
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Routing{}, time.Time{}, false, fmt.Errorf("%s: %w (delete it: the server pushes the routing again when it starts)", path, err)
	}
	if r.Format > routingFormat {
		return Routing{}, time.Time{}, false, fmt.Errorf("%s: format %d is newer than this gateway reads (%d): run the tend binary that wrote it", path, r.Format, routingFormat)
	}
	return r, saved, true, nil
}

// Paths of the gateway process's files in its directory (DATA/gateway).
type Paths struct{ Dir string }

// Control is the unix socket of the control API (push, drain, state, wanted hosts, metrics).
func (p Paths) Control() string { return filepath.Join(p.Dir, "control.sock") }

// Listeners is the unix socket that hands the gateway's listening sockets to the server.
func (p Paths) Listeners() string { return filepath.Join(p.Dir, "listeners.sock") }

// Routing is the last applied routing.
func (p Paths) Routing() string { return filepath.Join(p.Dir, "routing.json") }

// PID holds the pid of the gateway that serves the control socket.
func (p Paths) PID() string { return filepath.Join(p.Dir, "gateway.pid") }

// Log is where a gateway started by the server writes its log.
func (p Paths) Log() string { return filepath.Join(p.Dir, "gateway.log") }
