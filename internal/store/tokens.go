package store

import (
	"fmt"
	"time"
)

// Keys of the API's tokens (owned by package token): one record per token by its name,
// the revoked ones by the hash of their value (so that a revoked token is told so), and
// the audit log of API calls, one entry per key, in time order.
const (
	TokensPrefix           = "/tend/tokens/"
	TokenRevocationsPrefix = "/tend/token-revocations/"
	AuditPrefix            = "/tend/audit/"
)

// TokenKey holds the token named name.
func TokenKey(name string) string { return TokensPrefix + name }

// TokenRevocationKey holds the revocation of the token whose value hashes to hash.
func TokenRevocationKey(hash string) string { return TokenRevocationsPrefix + hash }

// AuditKey holds one audit entry: its time, then a sequence number that keeps apart the
// entries of one nanosecond, so that keys sort in the order of the calls.
func AuditKey(at time.Time, seq uint64) string {
	return fmt.Sprintf("%s%020d-%010d", AuditPrefix, at.UnixNano(), seq)
}
