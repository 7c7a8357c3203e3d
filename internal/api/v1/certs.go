package v1

import "time"

// CertState is where a host's certificate is.
type CertState string

// Certificate states.
const (
	CertValid     CertState = "valid"     // served, not expired, the last attempt succeeded
	CertPending   CertState = "pending"   // not obtained yet
	CertFailing   CertState = "failing"   // the last attempt failed; a valid certificate is still served until it expires
	CertExpired   CertState = "expired"   // past its notAfter
	CertUnclaimed CertState = "unclaimed" // no route has the host: kept a week, not served, in case one does again
)

// CertSource is where a certificate comes from.
type CertSource string

// Certificate sources.
const (
	CertFromACME CertSource = "acme" // from the ACME CA, renewed by tend two thirds into its lifetime
	CertFromFile CertSource = "file" // route.tls.cert and key, reloaded when the files change
)

// Certificate is one host's certificate, never its key; GET /v1/certs lists them.
type Certificate struct {
	Host   string     `json:"host"`
	App    string     `json:"app"`
	Source CertSource `json:"source"`
	State  CertState  `json:"state"`
	// Issuer is the leaf's issuer common name.
	Issuer string `json:"issuer,omitempty"`
	// NotAfter and Obtained are absent until a certificate is obtained.
	NotAfter time.Time `json:"notAfter,omitzero"`
	Obtained time.Time `json:"obtained,omitzero"`
	// RenewAt is when tend next orders a new one (after a failure: the retry).
	RenewAt time.Time `json:"renewAt,omitzero"`
	// LastError is the last failure to obtain or read it, cleared by a success; Failures
	// counts the failures since.
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	Failures    int       `json:"failures,omitempty"`
	// CertFile is the user's certificate file (source file).
	CertFile string `json:"certFile,omitempty"`
	// OnDemand: issued at the host's first TLS handshake, approved by route.tls.onDemand.
	OnDemand bool `json:"onDemand,omitempty"`
}
