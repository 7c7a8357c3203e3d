// Package token keeps the API's tokens, each with a role and the apps it may act on, and the audit log of the calls made with them.
package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// Role is what a token may do; each role may do all that the roles before it may.
type Role string

// Roles, from the least to the most.
const (
	Read   Role = "read"   // every GET: status, history, logs, routes, metrics, incidents, secrets' names
	Deploy Role = "deploy" // also deploy, act on rollouts and instances, set and remove secrets
	Admin  Role = "admin"  // everything: tokens, the audit log, secret values, the secrets key
)

// roles are the roles in order.
var roles = []Role{Read, Deploy, Admin}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	if r := Role(s); slices.Contains(roles, r) {
		return r, nil
	}
	return "", invalid{fmt.Errorf("role %q: want read, deploy or admin", s)}
}

// Allows reports whether a token of role r may do what needs role need.
func (r Role) Allows(need Role) bool {
	have, want := slices.Index(roles, r), slices.Index(roles, need)
	return have >= 0 && want >= 0 && have >= want
}

// FileName is the name the data dir's token file (DATA/token) goes by in the audit
// log: an admin token that is not in the store, so no token may be created with it.
const FileName = "token-file"

// Prefix starts every token's value, so that one found in a log or a repository is
// known for what it is.
const Prefix = "tend_"

// Token is what is kept of a token besides the hash of its value.
type Token struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Apps are the apps it may act on; none: every app.
	Apps    []string  `json:"apps,omitempty"`
	Created time.Time `json:"created"`
	// Expires is when it stops working (zero: never).
	Expires time.Time `json:"expires,omitzero"`
}

// MayTouch reports whether the token may act on app.
func (t Token) MayTouch(app string) bool { return len(t.Apps) == 0 || slices.Contains(t.Apps, app) }

// record is a stored token: never its value, only the hash of it.
type record struct {
	Token
	Hash string `json:"hash"`
}

// revocation is what is kept of a revoked token, under the hash of its value.
type revocation struct {
	Name    string    `json:"name"`
	Revoked time.Time `json:"revoked"`
}

// hash is the hex SHA-256 of a token's value: what the store keeps and what a
// presented token is looked up by.
func hash(value string) string {
	h := sha256.Sum256([]byte(value))
	return hex.EncodeToString(h[:])
}

// ErrInvalid marks a request that cannot make a token (errors.Is); the error's text is
// the reason alone.
var ErrInvalid = errors.New("invalid token request")

type invalid struct{ reason error }

func (e invalid) Error() string        { return e.reason.Error() }
func (e invalid) Is(target error) bool { return target == ErrInvalid }
func (e invalid) Unwrap() error        { return e.reason }

// ErrUnknown is a value that is no token's.
var ErrUnknown = errors.New("unknown API token")

// ExistsError refuses a token whose name another token has.
type ExistsError struct{ Name string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("a token named %q exists: choose another name, or revoke it first (tend token revoke %s)", e.Name, e.Name)
}

// NotFoundError is a name no token has.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string {
	if e.Name == FileName {
		return fmt.Sprintf("%s is the data dir's token file (DATA/token), which is not revoked this way: remove the file and restart tend server, which makes a new one", FileName)
	}
	return fmt.Sprintf("no token named %q (tend token list shows them)", e.Name)
}

// ExpiredError is a token past its expiry.
type ExpiredError struct{ Token Token }

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("token %q expired at %s: an admin makes a new one (tend token revoke %s, then tend token create %s --role %s)",
		e.Token.Name, e.Token.Expires.UTC().Format(time.RFC3339), e.Token.Name, e.Token.Name, e.Token.Role)
}

// RevokedError is a token that tend token revoke ended.
type RevokedError struct {
	Name string
	At   time.Time
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("token %q was revoked at %s: an admin makes a new one (tend token create NAME --role ROLE)", e.Name, e.At.UTC().Format(time.RFC3339))
}

// Request is a token to make.
type Request struct {
	Name string
	Role Role
	// Apps limit it to these apps (none: every app).
	Apps []string
	// Lifetime is how long it works from now (0: until it is revoked).
	Lifetime time.Duration
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// check refuses a request that cannot make a token.
func (req Request) check() error {
	switch {
	case !nameRE.MatchString(req.Name):
		return invalid{fmt.Errorf("token name %q: want lowercase letters, digits, '.', '_' or '-', at most 63 (like github-ci)", req.Name)}
	case req.Name == FileName:
		return invalid{fmt.Errorf("%s is the name of the data dir's token file (DATA/token): choose another", FileName)}
	case req.Lifetime < 0:
		return invalid{fmt.Errorf("a lifetime of %s: want a positive one, or none for a token that works until it is revoked", req.Lifetime)}
	case req.Role == Admin && len(req.Apps) > 0:
		return invalid{errors.New("an admin token cannot be limited to apps: it manages tokens, which could give it any app; use --role deploy or read")}
	}
	if _, err := ParseRole(string(req.Role)); err != nil {
		return err
	}
	for _, app := range req.Apps {
		if err := spec.CheckAppName(app); err != nil {
			return invalid{err}
		}
	}
	return nil
}

// ParseLifetime reads a token's lifetime: days ("90d") or a Go duration ("720h",
// "30m"); "" is 0, a token that works until it is revoked.
func ParseLifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	const want = "want a lifetime like 90d, 720h or 30m"
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, invalid{fmt.Errorf("expires %q: %s: %w", s, want, err)}
		}
		if n <= 0 || n > 100*365 {
			return 0, invalid{fmt.Errorf("expires %q: %s, of 1 to 36500 days", s, want)}
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, invalid{fmt.Errorf("expires %q: %s: %w", s, want, err)}
	}
	if d <= 0 {
		return 0, invalid{fmt.Errorf("expires %q: %s, longer than 0", s, want)}
	}
	return d, nil
}

// Keeper keeps the tokens in the store and writes the audit log.
type Keeper struct {
	st  *store.Store
	log *slog.Logger
	now func() time.Time
	// keep is the most audit entries kept (MaxEntries)
	keep int

	// queue carries entries (and flush marks) to the one goroutine that writes them
	queue     chan item
	done      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the writer returned
	closeOnce sync.Once
	dropped   atomic.Int64
	// warned is set once a drop was logged, until a write succeeds: one warning for a
	// run of drops
	warned atomic.Bool
	// room, when set, says whether the data dir can take a write (SetRoom)
	room atomic.Pointer[func() error]
	// anonymous bounds the calls without a known token that are recorded, so that a
	// flood of them neither evicts nor crowds out the entries of real tokens;
	// unrecorded counts those left out
	anonymous  *rate.Limiter
	unrecorded atomic.Int64
}

// SetRoom makes the audit log's writer ask room before each write, and drop (count)
// the entries while it says no: a store written on a full filesystem stops the server,
// and the room left is for tend's own state.
func (k *Keeper) SetRoom(room func() error) { k.room.Store(&room) }

// Open keeps tokens in st and starts the writer of the audit log; Close stops it.
func Open(st *store.Store, log *slog.Logger) *Keeper {
	k := &Keeper{st: st, log: log, now: time.Now, keep: MaxEntries, queue: make(chan item, queueSize), done: make(chan struct{}), stopped: make(chan struct{}),
		anonymous: rate.NewLimiter(anonymousRate, anonymousBurst)}
	go k.write()
	return k
}

// Close writes the audit entries queued and stops the writer; entries recorded after
// it are not written. Closing twice does nothing the second time.
func (k *Keeper) Close() {
	k.closeOnce.Do(func() { close(k.done) })
	<-k.stopped
}

// Create makes a token and returns it with its value, which is kept nowhere: only its
// hash is stored.
func (k *Keeper) Create(ctx context.Context, req Request) (Token, string, error) {
	if err := req.check(); err != nil {
		return Token{}, "", err
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // never fails (crypto/rand)
	value := Prefix + base64.RawURLEncoding.EncodeToString(raw)
	apps := slices.Clone(req.Apps)
	slices.Sort(apps)
	t := Token{Name: req.Name, Role: req.Role, Apps: slices.Compact(apps), Created: k.now().UTC()}
	if req.Lifetime > 0 {
		t.Expires = t.Created.Add(req.Lifetime)
	}
	ok, err := k.st.Commit(ctx, store.Op{Key: store.TokenKey(t.Name), Value: record{Token: t, Hash: hash(value)}, IfAbsent: true})
	if err != nil {
		return Token{}, "", fmt.Errorf("store token %s: %w", t.Name, err)
	}
	if !ok {
		return Token{}, "", &ExistsError{Name: t.Name}
	}
	return t, value, nil
}

// List is every token, by name, expired ones included.
func (k *Keeper) List(ctx context.Context) ([]Token, error) {
	recs, err := store.List[record](ctx, k.st, store.TokensPrefix)
	if err != nil {
		return nil, fmt.Errorf("read the tokens: %w", err)
	}
	out := make([]Token, len(recs))
	for i, r := range recs {
		out[i] = r.Token
	}
	return out, nil
}

// Revoke ends the token name: from now on its value is refused, with a RevokedError.
// Its name is free again.
func (k *Keeper) Revoke(ctx context.Context, name string) (Token, error) {
	var rec record
	err := k.st.Get(ctx, store.TokenKey(name), &rec)
	if errors.Is(err, store.ErrNotFound) {
		return Token{}, &NotFoundError{Name: name}
	}
	if err != nil {
		return Token{}, fmt.Errorf("read token %s: %w", name, err)
	}
	// the revocation first: a revoke that fails half-way leaves the token working, and
	// says so, rather than unknown
	if err := k.st.Put(ctx, store.TokenRevocationKey(rec.Hash), revocation{Name: name, Revoked: k.now().UTC()}); err != nil {
		return Token{}, fmt.Errorf("revoke token %s: %w; it still works: run tend token revoke %s again", name, err, name)
	}
	if err := k.st.Delete(ctx, store.TokenKey(name)); err != nil {
		return Token{}, fmt.Errorf("revoke token %s: %w; it still works: run tend token revoke %s again", name, err, name)
	}
	return rec.Token, nil
}

// Check returns the token whose value is value. A value no token has is ErrUnknown, a
// revoked token's a *RevokedError, an expired token's an *ExpiredError (with the
// token). The value is hashed first and the hash looked up: the time the lookup takes
// tells nothing of the value.
func (k *Keeper) Check(ctx context.Context, value string) (Token, error) {
	h := hash(value)
	recs, err := store.List[record](ctx, k.st, store.TokensPrefix)
	if err != nil {
		return Token{}, fmt.Errorf("read the tokens: %w", err)
	}
	byHash := make(map[string]Token, len(recs))
	for _, r := range recs {
		byHash[r.Hash] = r.Token
	}
	if t, ok := byHash[h]; ok {
		if !t.Expires.IsZero() && !k.now().Before(t.Expires) {
			return t, &ExpiredError{Token: t}
		}
		return t, nil
	}
	var rv revocation
	switch err := k.st.Get(ctx, store.TokenRevocationKey(h), &rv); {
	case err == nil:
		return Token{Name: rv.Name}, &RevokedError{Name: rv.Name, At: rv.Revoked}
	case !errors.Is(err, store.ErrNotFound):
		return Token{}, fmt.Errorf("read the revoked tokens: %w", err)
	}
	return Token{}, ErrUnknown
}
