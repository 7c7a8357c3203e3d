package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/token"
)

// Tokens is what the API asks of the server's scoped tokens and its audit log
// (package token's Keeper).
type Tokens interface {
	Create(ctx context.Context, req token.Request) (token.Token, string, error)
	List(ctx context.Context) ([]token.Token, error)
	Revoke(ctx context.Context, name string) (token.Token, error)
	Check(ctx context.Context, value string) (token.Token, error)
	Record(e token.Entry)
	Audit(ctx context.Context, q token.Query) ([]token.Entry, error)
	Dropped() int64
	Unrecorded() int64
}

func (s *server) routeTokens(r *router) {
	created := jsonOf(v1.NewToken{})
	created.status = http.StatusCreated
	r.handle("POST /v1/tokens", s.createToken, op{summary: "make a token with a role, for every app or some, expiring or not: its value is in this answer only",
		request: jsonOf(v1.TokenRequest{}), response: created})
	r.handle("GET /v1/tokens", s.listTokens, op{summary: "the tokens: names, roles, apps and expiry, never values",
		response: jsonOf([]v1.Token{})})
	r.handle("DELETE /v1/tokens/{name}", s.revokeToken, op{summary: "revoke a token: calls with it get 401 from now on; its name is free again",
		params: []param{{name: "name", desc: "the token's name", value: ""}}, response: jsonOf(v1.Token{})})
	r.handle("GET /v1/audit", s.auditLog, op{summary: "the audit log: the newest API calls, oldest first",
		params: []param{{name: "limit", desc: "the most entries (default 100, at most " + strconv.Itoa(token.MaxEntries) + ")", value: 0},
			{name: "token", desc: "only the calls made with the token of this name", value: ""}},
		response: jsonOf(v1.AuditLog{})})
}

// tokenStatus is the HTTP status of a token operation's error.
func tokenStatus(err error) int {
	var exists *token.ExistsError
	var missing *token.NotFoundError
	switch {
	case errors.Is(err, token.ErrInvalid):
		return http.StatusBadRequest
	case errors.As(err, &exists):
		return http.StatusConflict
	case errors.As(err, &missing):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func wireToken(t token.Token) v1.Token {
	return v1.Token{Name: t.Name, Role: v1.Role(t.Role), Apps: t.Apps, Created: t.Created, Expires: t.Expires}
}

// caller is the name of the token that made the call, for the server's log.
func caller(r *http.Request) string {
	if c, ok := callOf(r); ok {
		return c.who.Name
	}
	return ""
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var req v1.TokenRequest
	if err := decode(r.Body, 64<<10, &req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: want JSON like {\"name\": \"ci\", \"role\": \"deploy\", \"apps\": [\"hello\"], \"expires\": \"90d\"}: %w", err))
		return
	}
	life, err := token.ParseLifetime(req.Expires)
	if err != nil {
		writeError(w, tokenStatus(err), err)
		return
	}
	t, value, err := s.o.Tokens.Create(r.Context(), token.Request{Name: req.Name, Role: token.Role(req.Role), Apps: req.Apps, Lifetime: life})
	if err != nil {
		writeError(w, tokenStatus(err), err)
		return
	}
	s.log.Info("token created", "token", t.Name, "role", t.Role, "apps", t.Apps, "expires", cmp.Or(req.Expires, "never"), "by", caller(r)) // never the value
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, v1.NewToken{Token: wireToken(t), Value: value})
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request) {
	list, err := s.o.Tokens.List(r.Context())
	if err != nil {
		writeError(w, tokenStatus(err), err)
		return
	}
	out := make([]v1.Token, len(list))
	for i, t := range list {
		out[i] = wireToken(t)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.o.Tokens.Revoke(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, tokenStatus(err), err)
		return
	}
	s.log.Info("token revoked", "token", t.Name, "role", t.Role, "by", caller(r))
	writeJSON(w, http.StatusOK, wireToken(t))
}

func (s *server) auditLog(w http.ResponseWriter, r *http.Request) {
	q := token.Query{Token: r.URL.Query().Get("token")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want a number of entries from 1 to %d", l, token.MaxEntries))
			return
		}
		q.Limit = n
	}
	entries, err := s.o.Tokens.Audit(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := v1.AuditLog{Entries: make([]v1.AuditEntry, len(entries)), Dropped: s.o.Tokens.Dropped(), Unrecorded: s.o.Tokens.Unrecorded()}
	for i, e := range entries {
		out.Entries[i] = v1.AuditEntry{At: e.At, Token: e.Token, Role: v1.Role(e.Role), Method: e.Method, Route: e.Route, App: e.App,
			Status: e.Status, Duration: v1.Duration(e.Duration), Remote: e.Remote, Error: e.Error, ErrorCode: e.ErrorCode}
	}
	writeJSON(w, http.StatusOK, out)
}
