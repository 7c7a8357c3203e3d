package gateway

import (
	"encoding/json"
	"html"
	"net/http"
	"strconv"
	"strings"

	"github.com/tendhq/tend/internal/gateway/route"
)

// An app in maintenance (`tend maintenance APP on`), or scaled to zero, is answered by the gateway itself:
// 503, with Retry-After when one was given, and a page in HTML for browsers or in JSON
// for clients that ask for it. Its instances keep running and get nothing.

// maintenancePage is the answer's content type and body for a client that accepts accept.
func maintenancePage(app string, m *route.Maintenance, accept string) (string, []byte) {
	msg, kind, title := m.Message, "maintenance", "Down for maintenance"
	switch {
	case m.ScaledToZero:
		msg, kind, title = app+" is scaled to zero: it runs no instance now.", "scaled to zero", "Scaled to zero"
	case msg == "":
		msg = app + " is down for maintenance; please try again later."
	}
	if wantsJSON(accept) {
		b, _ := json.Marshal(struct {
			Error      string `json:"error"`
			App        string `json:"app"`
			Message    string `json:"message"`
			RetryAfter int    `json:"retryAfterSeconds,omitempty"`
		}{kind, app, msg, m.RetryAfter})
		return "application/json", append(b, '\n')
	}
	page := "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(app) +
		": " + kind + "</title></head>\n<body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>" + html.EscapeString(title) + "</h1>\n<p>" +
		html.EscapeString(msg) + "</p></body></html>\n"
	return "text/html; charset=utf-8", []byte(page)
}

// wantsJSON reports whether an Accept header prefers JSON to HTML.
func wantsJSON(accept string) bool {
	j, h := strings.Index(accept, "json"), strings.Index(accept, "text/html")
	return j >= 0 && (h < 0 || j < h)
}

// writeMaintenance answers r for an app in maintenance.
func writeMaintenance(w http.ResponseWriter, rt *appRoute, accept string) {
	ct, body := maintenancePage(rt.app, rt.maintenance, accept)
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-store")
	if rt.maintenance.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(rt.maintenance.RetryAfter))
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(body)
}
