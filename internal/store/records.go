package store

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

// Key layout. Everything tend owns lives under /tend/; the service registry uses the
// seed's layout (/services/<name>/<address>) so that services registered by kit, which
// tend did not start, are routable too.
const (
	AppsPrefix      = "/tend/specs/"
	RevisionsRoot   = "/tend/revisions/"
	RolloutsPrefix  = "/tend/rollouts/"
	RoutesPrefix    = "/tend/routes/"
	InstancesPrefix = "/tend/instances/"
	EventsPrefix    = "/tend/events/"
	// InstanceUsersPrefix holds the uid of each app whose instances run as a user of
	// their own, and InstanceUIDsPrefix the app of each such uid (owned by the runtime).
	InstanceUsersPrefix = "/tend/instance-users/"
	InstanceUIDsPrefix  = "/tend/instance-uids/"
	ServicesPrefix      = "/services/"
)

// AppKey holds the desired spec of an app (an AppRecord).
func AppKey(app string) string { return AppsPrefix + app }

// RevisionKey holds one Revision; numbers are zero-padded so keys sort by number.
func RevisionKey(app string, n int) string {
	return fmt.Sprintf("%s%s/%08d", RevisionsRoot, app, n)
}

// RevisionsPrefix lists an app's revisions.
func RevisionsPrefix(app string) string { return RevisionsRoot + app + "/" }

// RolloutKey holds the rollout state of an app (owned by package rollout).
func RolloutKey(app string) string { return RolloutsPrefix + app }

// RouteKey holds the Route of an app.
func RouteKey(app string) string { return RoutesPrefix + app }

// InstanceKey holds the runtime's record of one instance (owned by the runtime),
// kept without a lease so that a restarted server can re-adopt the instance.
func InstanceKey(app, id string) string { return InstancesPrefix + app + "/" + id }

// InstanceUserKey holds the uid an app's instances run as.
func InstanceUserKey(app string) string { return InstanceUsersPrefix + app }

// InstanceUIDKey holds the app a uid was given to, so that no two apps share one.
func InstanceUIDKey(uid uint32) string { return fmt.Sprintf("%s%d", InstanceUIDsPrefix, uid) }

// ServiceKey is the registry key of one endpoint of a service.
func ServiceKey(name, address string) string { return ServicesPrefix + name + "/" + address }

// EventKey holds one Event; the timestamp in the key keeps them in order.
func EventKey(app string, at time.Time) string {
	return fmt.Sprintf("%s%s/%020d", EventsPrefix, app, at.UnixNano())
}

// AppRecord is what `tend deploy` asked for: the spec as loaded and the YAML as written.
type AppRecord struct {
	Spec      spec.App  `json:"spec"`
	Source    string    `json:"source"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Instances overrides Spec.Instances after `tend scale` (0: use the spec).
	Instances int `json:"instances,omitempty"`
	// Maintenance, set by `tend maintenance APP on`, makes the gateway answer 503 while the
	// instances keep running; deploys keep it.
	Maintenance *Maintenance `json:"maintenance,omitempty"`
}

// Maintenance is what the gateway answers for an app in maintenance.
type Maintenance struct {
	Message string `json:"message,omitempty"`
	// RetryAfter is the Retry-After the clients get, in seconds (0: none).
	RetryAfter int       `json:"retryAfter,omitempty"`
	Since      time.Time `json:"since"`
}

// Revision is an immutable, numbered build of an app.
type Revision struct {
	App    string `json:"app"`
	Number int    `json:"number"`
	// Artifact is the executable's content digest ("sha256:…") and Path where it is stored.
	Artifact string `json:"artifact"`
	Path     string `json:"path"`
	// Version, Commit and BuildTime were injected at build time.
	Version   string `json:"version,omitempty"`
	Commit    string `json:"commit,omitempty"`
	BuildTime string `json:"buildTime,omitempty"`
	// ConfigHash covers everything but the artifact that makes instances differ (env, health, resources).
	ConfigHash string    `json:"configHash"`
	Spec       spec.App  `json:"spec"`
	CreatedAt  time.Time `json:"createdAt"`
}

// Endpoint is one routable address of a service in the registry: the seed's
// ServiceInfo. tend's runtime registers ready instances with Metadata "revision"
// and "instance"; kit's registry writes the same record.
type Endpoint struct {
	Name     string            `json:"name"`
	Address  string            `json:"address"`
	Port     int               `json:"port"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// HostPort is the dialable address of the endpoint.
func (e Endpoint) HostPort() string { return fmt.Sprintf("%s:%d", e.Address, e.Port) }

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
	Matches []MatchRule `json:"matches,omitempty"`
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
	TLS             *RouteTLS     `json:"tls,omitempty"`
	ResponseTimeout time.Duration `json:"responseTimeout,omitempty"`
	ConnectTimeout  time.Duration `json:"connectTimeout,omitempty"`
	BodyTimeout     time.Duration `json:"bodyTimeout,omitempty"`
}

// Split is one revision's share of traffic.
type Split struct {
	Revision int `json:"revision"`
	Weight   int `json:"weight"`
}

// MatchRule matches a header or a cookie (Kind "header" or "cookie") with an exact value.
type MatchRule struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Value    string `json:"value"`
	Revision int    `json:"revision"`
}

// Event is one line in an app's history: what happened, to which revision, and why.
type Event struct {
	App      string    `json:"app"`
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"` // e.g. "rollout.started", "instance.restarted", "build.failed"
	Revision int       `json:"revision,omitempty"`
	Message  string    `json:"message"`
}

// Incident keys: one record per incident (numbered, zero-padded so keys sort by number)
// and the remediation state (kill switch and actions taken).
const (
	IncidentsPrefix = "/tend/incidents/"
	RemediationKey  = "/tend/remediation"
)

// IncidentKey holds one incident.
func IncidentKey(id int) string { return fmt.Sprintf("%s%08d", IncidentsPrefix, id) }
