package token

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// openKeeper is a keeper over a store of its own, closed with the test.
func openKeeper(t *testing.T) (*Keeper, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	k := Open(st, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { k.Close(); st.Close() })
	return k, st
}

// The store holds the SHA-256 of a token's value, never the value; the value checks.
func TestATokenIsStoredAsTheHashOfItsValue(t *testing.T) {
	ctx := context.Background()
	k, st := openKeeper(t)
	tok, value, err := k.Create(ctx, Request{Name: "ci", Role: Deploy, Apps: []string{"shop", "hello", "shop"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(value, Prefix) || len(value) != len(Prefix)+43 {
		t.Errorf("value %q: want tend_ and 32 random bytes in base64url", value)
	}
	if tok.Name != "ci" || tok.Role != Deploy || strings.Join(tok.Apps, ",") != "hello,shop" || tok.Created.IsZero() || !tok.Expires.IsZero() {
		t.Errorf("token %+v", tok)
	}
	kvs, err := st.Records(ctx, "/tend/")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(value))
	var all string
	for _, kv := range kvs {
		all += kv.Key + " " + string(kv.Value) + "\n"
	}
	if strings.Contains(all, value) || strings.Contains(all, strings.TrimPrefix(value, Prefix)) {
		t.Errorf("the store holds the token's value:\n%s", all)
	}
	if !strings.Contains(all, hex.EncodeToString(sum[:])) {
		t.Errorf("the store does not hold the value's SHA-256:\n%s", all)
	}
	got, err := k.Check(ctx, value)
	if err != nil || got.Name != "ci" || got.Role != Deploy {
		t.Errorf("Check: %+v %v", got, err)
	}
	if _, err := k.Check(ctx, value+"x"); !errors.Is(err, ErrUnknown) {
		t.Errorf("another value: %v, want ErrUnknown", err)
	}
	if _, other, _ := k.Create(ctx, Request{Name: "ci2", Role: Read}); other == value {
		t.Error("two tokens have the same value")
	}
}

// A name is taken until its token is revoked; bad requests say what is wrong.
func TestNamesAreUniqueAndRequestsChecked(t *testing.T) {
	ctx := context.Background()
	k, _ := openKeeper(t)
	_, first, err := k.Create(ctx, Request{Name: "ci", Role: Read})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = k.Create(ctx, Request{Name: "ci", Role: Admin})
	var exists *ExistsError
	if !errors.As(err, &exists) || !strings.Contains(err.Error(), "tend token revoke ci") {
		t.Errorf("a second ci: %v, want an ExistsError that says how to free the name", err)
	}
	if tok, err := k.Check(ctx, first); err != nil || tok.Role != Read {
		t.Errorf("the refused create changed the first token: %+v %v", tok, err)
	}
	if _, err := k.Revoke(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.Create(ctx, Request{Name: "ci", Role: Deploy}); err != nil {
		t.Errorf("ci after its revocation: %v", err)
	}

	for _, c := range []struct {
		req  Request
		want string
	}{
		{Request{Name: "CI", Role: Read}, "lowercase"},
		{Request{Name: "", Role: Read}, "token name"},
		{Request{Name: FileName, Role: Read}, "token file"},
		{Request{Name: "x", Role: "root"}, "want read, deploy or admin"},
		{Request{Name: "x", Role: Admin, Apps: []string{"shop"}}, "cannot be limited"},
		{Request{Name: "x", Role: Deploy, Apps: []string{"Shop"}}, "app name"},
		{Request{Name: "x", Role: Read, Lifetime: -time.Hour}, "positive"},
	} {
		_, _, err := k.Create(ctx, c.req)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want ErrInvalid saying %q", c.req, err, c.want)
		}
	}
	list, err := k.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "ci" || list[0].Role != Deploy {
		t.Errorf("List: %+v %v, want the one ci", list, err)
	}
}

// A token works until its expiry, then is refused with the time it expired.
func TestAnExpiredTokenIsRefusedWithItsExpiry(t *testing.T) {
	ctx := context.Background()
	k, _ := openKeeper(t)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	k.now = func() time.Time { return now }
	tok, value, err := k.Create(ctx, Request{Name: "ci", Role: Deploy, Lifetime: 90 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(90 * 24 * time.Hour); !tok.Expires.Equal(want) {
		t.Errorf("expires %v, want %v", tok.Expires, want)
	}
	now = now.Add(90*24*time.Hour - time.Second)
	if _, err := k.Check(ctx, value); err != nil {
		t.Errorf("a second before its expiry: %v", err)
	}
	now = now.Add(time.Second)
	got, err := k.Check(ctx, value)
	var expired *ExpiredError
	if !errors.As(err, &expired) || got.Name != "ci" {
		t.Fatalf("at its expiry: %+v %v, want an ExpiredError", got, err)
	}
	if !strings.Contains(err.Error(), `token "ci" expired at 2026-05-30T10:00:00Z`) || !strings.Contains(err.Error(), "tend token create ci --role deploy") {
		t.Errorf("the error: %v", err)
	}
}

// A revoked token is refused, and told so; revoking an unknown name says so.
func TestARevokedTokenIsRefused(t *testing.T) {
	ctx := context.Background()
	k, _ := openKeeper(t)
	_, value, err := k.Create(ctx, Request{Name: "ci", Role: Admin})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Revoke(ctx, "ci")
	if err != nil || tok.Name != "ci" || tok.Role != Admin {
		t.Fatalf("Revoke: %+v %v", tok, err)
	}
	got, err := k.Check(ctx, value)
	var revoked *RevokedError
	if !errors.As(err, &revoked) || got.Name != "ci" || revoked.At.IsZero() || !strings.Contains(err.Error(), `token "ci" was revoked at`) {
		t.Errorf("the revoked token: %+v %v", got, err)
	}
	var missing *NotFoundError
	if _, err := k.Revoke(ctx, "ci"); !errors.As(err, &missing) {
		t.Errorf("revoked twice: %v, want a NotFoundError", err)
	}
	if _, err := k.Revoke(ctx, FileName); !errors.As(err, &missing) || !strings.Contains(err.Error(), "DATA/token") {
		t.Errorf("the token file: %v, want a NotFoundError that says how to change DATA/token", err)
	}
	if list, _ := k.List(ctx); len(list) != 0 {
		t.Errorf("List after the revocation: %+v", list)
	}
}

func TestParseLifetime(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "90d": 90 * 24 * time.Hour, "1d": 24 * time.Hour, "720h": 720 * time.Hour, "30m": 30 * time.Minute} {
		if got, err := ParseLifetime(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0d", "-1d", "1.5d", "d", "soon", "0s", "-1h", "99999999d"} {
		if _, err := ParseLifetime(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "like 90d") {
			t.Errorf("%q: %v, want ErrInvalid with an example", in, err)
		}
	}
}

func TestEachRoleAllowsTheRolesBelowIt(t *testing.T) {
	for _, c := range []struct {
		have, need Role
		ok         bool
	}{
		{Read, Read, true}, {Read, Deploy, false}, {Read, Admin, false},
		{Deploy, Read, true}, {Deploy, Deploy, true}, {Deploy, Admin, false},
		{Admin, Read, true}, {Admin, Deploy, true}, {Admin, Admin, true},
		{"", Read, false}, {Admin, "", false},
	} {
		if got := c.have.Allows(c.need); got != c.ok {
			t.Errorf("%q allows %q: %v, want %v", c.have, c.need, got, c.ok)
		}
	}
}

func entry(i int, tok string) Entry {
	return Entry{At: time.Date(2026, 3, 1, 10, 0, i, 0, time.UTC), Token: tok, Role: Read, Method: "GET", Route: "/v1/apps/{app}",
		App: fmt.Sprintf("app%d", i), Status: 200, Duration: time.Millisecond, Remote: "127.0.0.1:5000"}
}

// What Record takes, Audit returns once written, newest last; the token filter and the
// limit apply to the newest entries.
func TestTheAuditLogReturnsTheNewestEntries(t *testing.T) {
	ctx := context.Background()
	k, st := openKeeper(t)
	for i := range 10 {
		k.Record(entry(i, []string{"ci", "ops"}[i%2]))
	}
	all, err := k.Audit(ctx, Query{})
	if err != nil || len(all) != 10 || all[0].App != "app0" || all[9].App != "app9" {
		t.Fatalf("Audit: %d entries %v, want the 10 oldest first", len(all), err)
	}
	if all[3] != entry(3, "ops") {
		t.Errorf("entry 3: %+v, want %+v", all[3], entry(3, "ops"))
	}
	last, _ := k.Audit(ctx, Query{Limit: 2})
	if len(last) != 2 || last[0].App != "app8" || last[1].App != "app9" {
		t.Errorf("limit 2: %+v", last)
	}
	ci, _ := k.Audit(ctx, Query{Token: "ci", Limit: 3})
	if len(ci) != 3 || ci[0].App != "app4" || ci[2].App != "app8" {
		t.Errorf("ci, limit 3: %+v", ci)
	}
	// what was recorded is written by Close, and read by the next keeper
	k.Record(entry(10, "ci"))
	k.Close()
	k2 := Open(st, slog.New(slog.DiscardHandler))
	defer k2.Close()
	if got, _ := k2.Audit(ctx, Query{Limit: 1}); len(got) != 1 || got[0].App != "app10" {
		t.Errorf("after Close, another keeper reads %+v", got)
	}
	if k.Dropped() != 0 {
		t.Errorf("dropped %d", k.Dropped())
	}
}

// The log keeps its newest entries only.
func TestTheAuditLogIsBounded(t *testing.T) {
	ctx := context.Background()
	k, st := openKeeper(t)
	k.keep = 50
	n := 2*pruneEvery + 1
	for i := range n {
		k.Record(entry(i, "ci"))
		if i%queueSize == queueSize-1 {
			if _, err := k.Audit(ctx, Query{Limit: 1}); err != nil { // wait: no entry is dropped
				t.Fatal(err)
			}
		}
	}
	got, err := k.Audit(ctx, Query{Limit: 1})
	if err != nil || len(got) != 1 || got[0].App != fmt.Sprintf("app%d", n-1) {
		t.Fatalf("the newest: %+v %v", got, err)
	}
	kvs, err := st.Records(ctx, store.AuditPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) > k.keep+pruneEvery {
		t.Errorf("%d entries stored, want at most %d (the limit, and what comes in until the next prune)", len(kvs), k.keep+pruneEvery)
	}
	if k.Dropped() != 0 {
		t.Errorf("dropped %d", k.Dropped())
	}
}

// Record never waits: with nobody writing, what the queue cannot take is counted.
func TestRecordDropsWhatTheQueueCannotTake(t *testing.T) {
	k := &Keeper{log: slog.New(slog.DiscardHandler), queue: make(chan item, 3)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 {
			k.Record(entry(i, "ci"))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Record blocked on a full queue")
	}
	if k.Dropped() != 7 {
		t.Errorf("dropped %d, want 7", k.Dropped())
	}
}

// While the data dir has no room, audit entries are dropped and counted, not written:
// a store written on a full filesystem would stop the server.
func TestNoAuditWritesWithoutRoom(t *testing.T) {
	k, _ := openKeeper(t)
	full := true
	k.SetRoom(func() error {
		if full {
			return errors.New("full")
		}
		return nil
	})
	k.Record(Entry{At: time.Now(), Method: "GET", Status: 200})
	got, err := k.Audit(context.Background(), Query{})
	if err != nil || len(got) != 0 || k.Dropped() != 1 {
		t.Fatalf("without room: %d entries, %d dropped, %v", len(got), k.Dropped(), err)
	}
	full = false
	k.Record(Entry{At: time.Now(), Method: "GET", Status: 200})
	if got, err := k.Audit(context.Background(), Query{}); err != nil || len(got) != 1 {
		t.Errorf("with room again: %d entries, %v", len(got), err)
	}
}

// A flood of calls without a known token is recorded up to the burst, then counted:
// the entries of real tokens recorded meanwhile are all kept.
func TestAFloodOfUnknownCallsDoesNotCrowdOutTheTokens(t *testing.T) {
	k, _ := openKeeper(t)
	at := time.Now()
	for i := range 1000 {
		k.Record(Entry{At: at.Add(time.Duration(i) * time.Microsecond), Method: "GET", Route: "/v1/apps", Status: 401})
		if i%100 == 0 {
			k.Record(Entry{At: at.Add(time.Duration(i) * time.Microsecond), Token: "ci", Method: "POST", Route: "/v1/deploy", Status: 200})
		}
	}
	mine, err := k.Audit(context.Background(), Query{Token: "ci", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 10 {
		t.Errorf("ci's entries during the flood: %d, want all 10", len(mine))
	}
	all, err := k.Audit(context.Background(), Query{Limit: MaxEntries})
	if err != nil {
		t.Fatal(err)
	}
	// the limiter refills at 10 a second: a slow run records a few more than the burst
	if n := len(all) - len(mine); n < anonymousBurst || n > anonymousBurst+50 {
		t.Errorf("%d unknown calls recorded out of 1000, want about %d", n, anonymousBurst)
	}
	if got := k.Unrecorded() + int64(len(all)-len(mine)); got != 1000 || k.Dropped() != 0 {
		t.Errorf("unrecorded %d + recorded %d, dropped %d: want 1000 unknown calls in all, none dropped", k.Unrecorded(), len(all)-len(mine), k.Dropped())
	}
}
