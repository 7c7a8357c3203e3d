package v1

import "time"

// The bodies of /v1/tokens and /v1/audit. A token is sent as "Authorization: Bearer
// VALUE" (or as the password of basic auth); the data dir's token file is an admin
// token named token-file.

// Role is what a token may do; each role may do all that the roles before it may.
type Role string

// Token roles.
const (
	RoleRead   Role = "read"   // every GET: status, history, watch, logs, routes, certificates, secrets' names, incidents, metrics
	RoleDeploy Role = "deploy" // also deploy, promote, abort, pause, resume, restart, scale, roll back, redeploy, maintenance, set and remove secrets, upload
	RoleAdmin  Role = "admin"  // everything: tokens, the audit log, secret values, the secrets key, incident actions, remediation, silences
)

// Values lists the roles.
func (Role) Values() []Role { return []Role{RoleRead, RoleDeploy, RoleAdmin} }

// Token is what may be shown of an API token: never its value, nor the hash the server
// keeps of it. GET /v1/tokens lists them.
type Token struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Apps are the apps it may act on; absent: every app.
	Apps    []string  `json:"apps,omitempty"`
	Created time.Time `json:"created"`
	// Expires is when it stops working; absent: it works until it is revoked.
	Expires time.Time `json:"expires,omitzero"`
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	// Name is what the audit log and tend token revoke call it: lowercase letters,
	// digits, '.', '_' and '-'.
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Apps limit it to these apps; absent: every app (an admin token is never limited).
	Apps []string `json:"apps,omitempty"`
	// Expires is how long it works: days ("90d") or a Go duration ("720h"); absent: until
	// it is revoked.
	Expires string `json:"expires,omitempty"`
}

// NewToken answers POST /v1/tokens: the token and its value, which no other answer
// holds (the server keeps only its SHA-256).
type NewToken struct {
	Token Token  `json:"token"`
	Value string `json:"value"`
}

// AuditEntry is one API call as the audit log recorded it.
type AuditEntry struct {
	At time.Time `json:"at"`
	// Token is the name of the token the call carried; absent when it carried none the
	// server knows. Role is the token's when the server accepted it.
	Token  string `json:"token,omitempty"`
	Role   Role   `json:"role,omitempty"`
	Method string `json:"method"`
	// Route is the path pattern of the route that served it (/v1/apps/{app}); absent
	// when none did.
	Route string `json:"route,omitempty"`
	App   string `json:"app,omitempty"`
	// Status is the answer's HTTP status; of a stream, the one it began with.
	Status int `json:"status"`
	// Duration is from the request to the end of the answer (of a stream: its end).
	Duration Duration `json:"duration"`
	// Remote is the client's address as the server saw it.
	Remote string `json:"remote"`
	// Error is what a stream that began with status 200 ended with (a deploy that
	// failed), and ErrorCode the status that stands for (400, 409, 500, ...).
	Error     string `json:"error,omitempty"`
	ErrorCode int    `json:"errorCode,omitempty"`
}

// AuditLog answers GET /v1/audit: the newest entries asked for, oldest first.
type AuditLog struct {
	Entries []AuditEntry `json:"entries"`
	// Dropped counts the entries this server could not record since it started: its
	// store fell behind the calls.
	Dropped int64 `json:"dropped,omitempty"`
	// Unrecorded counts the calls without a known token (401) this server left out
	// since it started: beyond 10 a second, they are counted, not recorded, so that a
	// flood of them cannot push the calls of real tokens out of the log.
	Unrecorded int64 `json:"unrecorded,omitempty"`
}
