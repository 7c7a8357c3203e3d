// Package route holds the route record: how the gateway sends an app's requests to its
// revisions, written by the controller and read by the gateway.
package route

import "time"

// Route is how the gateway sends requests to an app's revisions. The controller
// writes it; the gateway watches it.
type Route struct {
	App        string   `json:"app"`
	Hosts      []string `json:"hosts,omitempty"`
	PathPrefix string   `json:"pathPrefix"`
	// Splits share traffic among revisions by weight (weights sum to 100). An empty list sends
	// traffic to every registered endpoint of the app regardless of revision.
	Splits []Split `json:"splits,omitempty"`
	// Matches send a request matching any rule to Revision, whatever the weights.
	Matches []Match `json:"matches,omitempty"`
	// Preview is the revision that requests with header X-Tend-Preview: PreviewToken reach
	// (0: none; without a token, none either).
	Preview      int    `json:"preview,omitempty"`
	PreviewToken string `json:"previewToken,omitempty"`
	// Mirror copies MirrorPercent of the GET and HEAD requests served by other revisions
	// to revision Mirror; its answers are discarded (0: no mirroring).
	Mirror        int `json:"mirror,omitempty"`
	MirrorPercent int `json:"mirrorPercent,omitempty"`
	// MaxBody bounds a request body in bytes (0: no limit); ResponseTimeout and
	// BodyTimeout override the gateway's defaults (0: the default).
	MaxBody int64 `json:"maxBody,omitempty"`
	// Maintenance, when set, is answered (503) instead of sending requests to instances.
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	// Protocol is how the gateway talks to the instances: "" (HTTP/1.1) or "http2" (h2c, for gRPC).
	Protocol string `json:"protocol,omitempty"`
	// TLS, when set, serves the app over HTTPS too (certificates by Host, CertKey).
	TLS             *TLS          `json:"tls,omitempty"`
	ResponseTimeout time.Duration `json:"responseTimeout,omitempty"`
	ConnectTimeout  time.Duration `json:"connectTimeout,omitempty"`
	BodyTimeout     time.Duration `json:"bodyTimeout,omitempty"`
}

// Split is one revision's share of traffic.
type Split struct {
	Revision int `json:"revision"`
	Weight   int `json:"weight"`
}

// Match matches a header or a cookie (Kind "header" or "cookie") with an exact value.
type Match struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Value    string `json:"value"`
	Revision int    `json:"revision"`
}

// TLS is how the gateway serves an app over HTTPS.
type TLS struct {
	// Auto: certificates from the ACME CA; otherwise CertFile and KeyFile (absolute).
	Auto     bool   `json:"auto,omitempty"`
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
	// Redirect answers plain HTTP with 308 to HTTPS (ACME challenges excepted).
	Redirect bool `json:"redirect,omitempty"`
	// HSTS is the Strict-Transport-Security max-age sent over HTTPS (0: no header).
	HSTS time.Duration `json:"hsts,omitempty"`
	// OnDemand (with Auto) is the approval URL of on-demand certificates: a host the route
	// claims without listing it (a wildcard's, or any when it has no hosts) gets a
	// certificate at its first TLS handshake if GET OnDemand?host=HOST answers 2xx.
	OnDemand string `json:"onDemand,omitempty"`
}

// Maintenance is what the gateway answers for an app in maintenance.
type Maintenance struct {
	Message string `json:"message,omitempty"`
	// RetryAfter is the Retry-After the clients get, in seconds (0: none).
	RetryAfter int       `json:"retryAfter,omitempty"`
	Since      time.Time `json:"since"`
	// ScaledToZero says the app runs no instance (`tend scale APP 0`) rather than that
	// it is down for maintenance.
	ScaledToZero bool `json:"scaledToZero,omitempty"`
}
