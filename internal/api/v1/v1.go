// Package v1 is the contract of tend's HTTP API under /v1: the bodies it sends, as types
// of their own, converted from the server's internal ones so that an internal change
// is not an API change. Durations are Go duration strings ("30s"), times are RFC 3339
// and absent when unset, and kinds are the documented enums below.
package v1

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version is the API version this package describes. The server sends it in the
// VersionHeader of every answer, and GET /v1/version reports it as "api".
const Version = 1

// VersionHeader carries the server's API version. A server that does not send it
// predates this contract: its bodies were its internal types, durations in nanoseconds.
const VersionHeader = "Tend-Api-Version"

// Duration is a time.Duration that travels as a Go duration string: "1m30s", "250ms".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string, or a number of nanoseconds (a server older
// than the contract).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a duration like \"30s\", got %s", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration like \"30s\": %w", err)
	}
	*d = Duration(v)
	return nil
}

// String is the duration as Go writes it.
func (d Duration) String() string { return time.Duration(d).String() }

// VersionInfo answers GET /v1/version.
type VersionInfo struct {
	// Version is tend server's version (its build's).
	Version string `json:"version"`
	// API is the API version (Version of this package).
	API int `json:"api"`
	// Target is the platform of the executables the server runs (tend deploy --build
	// local builds for it); absent from servers older than it.
	Target *Target `json:"target,omitempty"`
}

// Target is a platform as Go names it (GOOS, GOARCH).
type Target struct {
	OS   string `json:"os"`
	Arch string `json:"arch"`
}
