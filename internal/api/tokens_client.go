package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tendhq/tend/internal/api/v1"
)

// CreateToken makes a token; its value is in this answer only.
func (c *Client) CreateToken(ctx context.Context, req v1.TokenRequest) (v1.NewToken, error) {
	var v v1.NewToken
	return v, c.getJSON(ctx, http.MethodPost, "/v1/tokens", req, &v)
}

// Tokens lists the tokens, never their values.
func (c *Client) Tokens(ctx context.Context) ([]v1.Token, error) {
	var v []v1.Token
	return v, c.getJSON(ctx, http.MethodGet, "/v1/tokens", nil, &v)
}

// RevokeToken revokes the token name and returns it.
func (c *Client) RevokeToken(ctx context.Context, name string) (v1.Token, error) {
	var v v1.Token
	return v, c.getJSON(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(name), nil, &v)
}

// Audit reads the newest limit entries of the audit log (0: the server's default), of
// the token named tokenName alone when it is not "".
func (c *Client) Audit(ctx context.Context, tokenName string, limit int) (v1.AuditLog, error) {
	q := url.Values{}
	if tokenName != "" {
		q.Set("token", tokenName)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/audit"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var v v1.AuditLog
	return v, c.getJSON(ctx, http.MethodGet, path, nil, &v)
}
