package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/secret"
)

// Secrets is what the API asks of the server's secrets (package secret's Vault).
type Secrets interface {
	Set(ctx context.Context, app, name string, value []byte) (int, error)
	List(ctx context.Context, app string) ([]secret.Info, error)
	Current(ctx context.Context, app string, names []string) (map[string]int, error)
	Values(ctx context.Context, app string, versions map[string]int) (map[string][]byte, error)
	RotateKey(ctx context.Context) (int, error)
	Keys() *secret.Keys
}

func (s *server) routeSecrets(r *router) {
	r.handle("GET /v1/apps/{app}/secrets", s.listSecrets, op{summary: "an app's secrets: names, versions and the revisions that use them, never values",
		response: jsonOf([]v1.Secret{})})
	r.handle("PUT /v1/apps/{app}/secrets/{name}", s.setSecret, op{summary: "set the next version of a secret (the app need not be deployed yet); nothing restarts",
		request: jsonOf(v1.SecretValue{}), response: jsonOf(v1.SecretSet{})})
	r.handle("DELETE /v1/apps/{app}/secrets/{name}", s.removeSecret, op{summary: "remove every version of a secret (409 while a running revision uses it)",
		response: noContent})
	r.handle("POST /v1/apps/{app}/secrets/reveal", s.revealSecrets, op{summary: "the current values of the secrets named (tend export k8s --include-secrets): the only answer that holds values",
		request: jsonOf(v1.SecretReveal{}), response: jsonOf(v1.RevealedSecrets{})})
	r.handle("POST /v1/secrets/rotate-key", s.rotateSecretsKey, op{summary: "seal every stored secret again with a new key",
		response: jsonOf(v1.KeyRotation{})})
}

// secretStatus is the HTTP status of a secret operation's error.
func secretStatus(err error) int {
	var inUse *controller.SecretInUseError
	switch {
	case errors.Is(err, secret.ErrInvalid):
		return http.StatusBadRequest
	case errors.As(err, &inUse):
		return http.StatusConflict
	}
	return statusOf(err)
}

func (s *server) listSecrets(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	infos, err := s.o.Secrets.List(r.Context(), app)
	if err != nil {
		writeError(w, secretStatus(err), err)
		return
	}
	uses, err := s.c.SecretUses(r.Context(), app)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, wireSecrets(infos, uses))
}

func (s *server) setSecret(w http.ResponseWriter, r *http.Request) {
	app, name := r.PathValue("app"), r.PathValue("name")
	var body v1.SecretValue
	// base64 makes 4 bytes of 3: room for the largest value and the JSON around it
	if err := decode(r.Body, secret.MaxSize*4/3+1024, &body); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: want JSON like {\"value\": \"BASE64\"} (tend secret set reads the value from stdin): %w", err))
		return
	}
	n, err := s.o.Secrets.Set(r.Context(), app, name, body.Value)
	if err != nil {
		writeError(w, secretStatus(err), err)
		return
	}
	s.log.Info("secret set", "app", app, "secret", name, "version", n) // never the value
	writeJSON(w, http.StatusOK, v1.SecretSet{App: app, Name: name, Version: n})
}

func (s *server) removeSecret(w http.ResponseWriter, r *http.Request) {
	app, name := r.PathValue("app"), r.PathValue("name")
	ok, err := s.c.RemoveSecret(r.Context(), app, name)
	if err != nil {
		writeError(w, secretStatus(err), err)
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("%s has no secret %s (tend secret list %s shows them)", app, name, app))
		return
	}
	s.log.Info("secret removed", "app", app, "secret", name)
	w.WriteHeader(http.StatusNoContent)
}

// revealSecrets answers with values, for a Kubernetes Secret that the user asked to be
// written with them. The token that may ask could as well deploy an app that prints its
// environment: revealing gives it nothing more, and a scoped token (deploy only) must not
// be given this.
func (s *server) revealSecrets(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	var body v1.SecretReveal
	if err := decode(r.Body, 64<<10, &body); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: want JSON like {\"names\": [\"db-url\"]}: %w", err))
		return
	}
	if len(body.Names) == 0 {
		writeError(w, http.StatusBadRequest, errors.New("no secret named: want JSON like {\"names\": [\"db-url\"]}"))
		return
	}
	versions, err := s.o.Secrets.Current(r.Context(), app, body.Names)
	var missing *secret.MissingError
	if errors.As(err, &missing) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	if err != nil {
		writeError(w, secretStatus(err), err)
		return
	}
	values, err := s.o.Secrets.Values(r.Context(), app, versions)
	if err != nil {
		writeError(w, secretStatus(err), err)
		return
	}
	s.log.Warn("secret values revealed", "app", app, "secrets", body.Names, "remote", r.RemoteAddr) // never the values
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, v1.RevealedSecrets{App: app, Versions: versions, Values: values})
}

func (s *server) rotateSecretsKey(w http.ResponseWriter, r *http.Request) {
	n, err := s.o.Secrets.RotateKey(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err) // the key or the store: nothing half-done stays unreadable
		return
	}
	s.log.Info("secrets key rotated", "resealed", n)
	writeJSON(w, http.StatusOK, v1.KeyRotation{Resealed: n, Key: s.o.Secrets.Keys().Path()})
}
