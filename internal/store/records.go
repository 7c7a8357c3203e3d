package store

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
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
	// SecretsPrefix holds the sealed versions of apps' secrets and SecretCountersPrefix
	// the last version number of each (owned by package secret).
	SecretsPrefix        = "/tend/secrets/"
	SecretCountersPrefix = "/tend/secret-counters/"
	// AutoscalePrefix holds each autoscaled app's recent decisions (an AutoscaleRecord).
	AutoscalePrefix = "/tend/autoscale/"
	// BackupVerifyPrefix holds the last restore drill of each backup (a BackupVerify).
	BackupVerifyPrefix = "/tend/backup-verify/"
)

// BackupVerifyKey holds the last restore drill of app's backup name.
func BackupVerifyKey(app, name string) string { return BackupVerifyPrefix + app + "/" + name }

// BackupVerify is the outcome of a backup's last restore drill.
type BackupVerify struct {
	Archive string    `json:"archive"`
	Time    time.Time `json:"time"`
	OK      bool      `json:"ok"`
	Message string    `json:"message"`
}

// AutoscaleKey holds an app's AutoscaleRecord.
func AutoscaleKey(app string) string { return AutoscalePrefix + app }

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

// SecretKey holds one sealed version of an app's secret; versions are zero-padded so
// keys sort by number.
func SecretKey(app, name string, version int) string {
	return fmt.Sprintf("%s%08d", SecretVersionsPrefix(app, name), version)
}

// SecretVersionsPrefix lists the versions of one secret.
func SecretVersionsPrefix(app, name string) string { return SecretsPrefixOf(app) + name + "/" }

// SecretCounterKey holds the last version number given to an app's secret.
func SecretCounterKey(app, name string) string { return SecretCountersPrefix + app + "/" + name }

// SecretsPrefixOf lists every secret of an app.
func SecretsPrefixOf(app string) string { return SecretsPrefix + app + "/" }

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
	// ScaledToZero, set by `tend scale APP 0`, runs no instance of the app; the gateway
	// answers its requests with 503 until a scale or a deploy brings instances back.
	ScaledToZero bool `json:"scaledToZero,omitempty"`
	// Floor, set by `tend scale` on an autoscaled app, is the fewest instances the
	// autoscaler may leave until the next deploy (0: autoscale.min alone).
	Floor int `json:"floor,omitempty"`
	// Maintenance, set by `tend maintenance APP on`, makes the gateway answer 503 while the
	// instances keep running; deploys keep it.
	Maintenance *route.Maintenance `json:"maintenance,omitempty"`
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
	ConfigHash string   `json:"configHash"`
	Spec       spec.App `json:"spec"`
	// Secrets are the versions of the secrets the revision runs with (name → version):
	// a rollback gives instances the values they had.
	Secrets   map[string]int `json:"secrets,omitempty"`
	CreatedAt time.Time      `json:"createdAt"`
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

// AutoscaleRecord is what `tend autoscale APP` lists: the autoscaler's recent changes
// of the app's count, oldest first.
type AutoscaleRecord struct {
	Changes []AutoscaleChange `json:"changes"`
}

// AutoscaleChange is one change the autoscaler made, and why.
type AutoscaleChange struct {
	At   time.Time `json:"at"`
	From int       `json:"from"`
	To   int       `json:"to"`
	// Metric is the metric that asked for the most instances.
	Metric string `json:"metric,omitempty"`
	// Limit is what held the change back (stabilized, policy, max, min) or "".
	Limit  string `json:"limit,omitempty"`
	Reason string `json:"reason"`
}
