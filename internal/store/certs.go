package store

import "time"

// Keys of the gateway's TLS state: one Certificate per host, and the ACME account.
const (
	CertsPrefix    = "/tend/certs/"
	ACMEAccountKey = "/tend/acme/account"
)

// CertKey holds the Certificate the gateway serves for host.
func CertKey(host string) string { return CertsPrefix + host }

// Certificate sources.
const (
	CertFromACME = "acme" // obtained from the ACME CA, renewed by tend
	CertFromFile = "file" // the user's files (route.tls.cert and key), reloaded when they change
)

// Certificate is the TLS certificate the gateway serves for Host, with its renewal
// state. A record without CertPEM is a certificate not obtained yet (LastError says why).
type Certificate struct {
	Host   string `json:"host"`
	App    string `json:"app"`
	Source string `json:"source"`
	// CertPEM is the chain, leaf first; KeyPEM its private key (PKCS#8 or EC/RSA PEM).
	CertPEM string `json:"certPEM,omitempty"`
	KeyPEM  string `json:"keyPEM,omitempty"`
	Issuer  string `json:"issuer,omitempty"` // the leaf's issuer common name
	// Directory is the ACME directory it was obtained from (Source acme): one from
	// another directory than tend server's is ordered again.
	Directory string    `json:"directory,omitempty"`
	NotBefore time.Time `json:"notBefore,omitzero"`
	NotAfter  time.Time `json:"notAfter,omitzero"`
	// Obtained is when this certificate was issued to tend or read from its files.
	Obtained time.Time `json:"obtained,omitzero"`
	// RenewAt is when tend next orders a new one (ACME: two thirds into its lifetime, or
	// the backoff after a failure).
	RenewAt time.Time `json:"renewAt,omitzero"`
	// LastError is the last failure to obtain or read it (cleared by a success); Failures
	// counts the failures since the last success.
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	Failures    int       `json:"failures,omitempty"`
	// Unclaimed is since when no route claims the host: the record is kept for a week
	// (not served, not renewed), so that a rollback or a redeploy that claims it again
	// orders nothing.
	Unclaimed time.Time `json:"unclaimed,omitzero"`
	// CertFile and KeyFile are the user's files (Source file), absolute.
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
	// OnDemand: the host is not among its route's hosts but was asked for in a TLS
	// handshake and approved by the route's tls.onDemand URL; the record lives as long as
	// a route of App with tls.onDemand claims the host.
	OnDemand bool `json:"onDemand,omitempty"`
}

// ACMEAccount is tend's account at an ACME CA.
type ACMEAccount struct {
	Directory string `json:"directory"`
	Email     string `json:"email,omitempty"`
	KeyPEM    string `json:"keyPEM"`
	URI       string `json:"uri"`
}
