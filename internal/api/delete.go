package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/token"
)

// deleteApp removes an app (DELETE /v1/apps/{app}); with purge=1, an admin's call, its
// history and secrets go too.
func (s *server) deleteApp(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	var purge bool
	switch v := r.URL.Query().Get("purge"); v {
	case "1":
		purge = true
	case "", "0":
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("purge=%q: want 1 (remove the history and secrets too) or 0", v))
		return
	}
	if purge {
		c, ok := callOf(r)
		if !ok {
			writeError(w, http.StatusForbidden, errors.New("no token was checked for this call (a bug: report it)"))
			return
		}
		if err := c.forbidden(rule{role: token.Admin, what: "purging an app's history and secrets"}, false); err != nil {
			writeError(w, http.StatusForbidden, err)
			return
		}
	}
	res, err := s.c.Delete(r.Context(), app, purge)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	out := v1.DeleteResult{App: app, Stopped: res.Stopped, RevisionsKept: res.Revisions, Purged: res.Purged}
	switch {
	case purge:
		out.Message = fmt.Sprintf("deleted %s: %d instances stopped; its revisions, events and secrets are gone", app, res.Stopped)
	default:
		out.Message = fmt.Sprintf("deleted %s: %d instances stopped; its %d revisions stay (tend history %s), and a deploy brings it back", app, res.Stopped, res.Revisions, app)
	}
	writeJSON(w, http.StatusOK, out)
}
