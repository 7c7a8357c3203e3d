package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tendhq/tend/internal/api/v1"
)

// Secrets lists an app's secrets: names and versions, never values.
func (c *Client) Secrets(ctx context.Context, app string) ([]v1.Secret, error) {
	var v []v1.Secret
	return v, c.getJSON(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(app)+"/secrets", nil, &v)
}

// SetSecret stores value as the next version of app's secret name.
func (c *Client) SetSecret(ctx context.Context, app, name string, value []byte) (v1.SecretSet, error) {
	var v v1.SecretSet
	return v, c.getJSON(ctx, http.MethodPut, "/v1/apps/"+url.PathEscape(app)+"/secrets/"+url.PathEscape(name), v1.SecretValue{Value: value}, &v)
}

// RemoveSecret deletes every version of app's secret name.
func (c *Client) RemoveSecret(ctx context.Context, app, name string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/v1/apps/"+url.PathEscape(app)+"/secrets/"+url.PathEscape(name), nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// RotateSecretsKey seals every stored secret again with a new key.
func (c *Client) RotateSecretsKey(ctx context.Context) (v1.KeyRotation, error) {
	var v v1.KeyRotation
	return v, c.getJSON(ctx, http.MethodPost, "/v1/secrets/rotate-key", nil, &v)
}

// RevealSecrets gets the current values of app's secrets names.
func (c *Client) RevealSecrets(ctx context.Context, app string, names []string) (v1.RevealedSecrets, error) {
	var v v1.RevealedSecrets
	return v, c.getJSON(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(app)+"/secrets/reveal", v1.SecretReveal{Names: names}, &v)
}
