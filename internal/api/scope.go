package api

// A token limited to apps (tend token create --apps) sees those apps only: the lists of
// apps, routes, certificates and incidents leave the others out, and its Prometheus
// queries select only the series of its apps (PromQL rewritten with an app matcher, as
// prom-label-proxy does). What spans apps and cannot be cut by app (the Alertmanager's
// alerts and silences, scrape targets, metric metadata) needs a token for every app.

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tendhq/tend/internal/monitor"
)

// scopedApps are the apps the call's token is limited to (nil: every app).
func scopedApps(r *http.Request) []string {
	if c, ok := callOf(r); ok {
		return c.who.Apps
	}
	return nil
}

// spansApps answers 403 to a token limited to apps, for what holds every app's data.
func spansApps(h http.Handler, what string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if apps := scopedApps(r); len(apps) > 0 {
			c, _ := callOf(r)
			writeError(w, http.StatusForbidden, fmt.Errorf("token %q may see %s only, and %s spans every app: use a token without --apps",
				c.who.Name, strings.Join(apps, ", "), what))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// scopedPrometheus serves the Prometheus API (mounted, paths without /prometheus) to a
// token limited to apps with its queries and selectors limited to their series.
func scopedPrometheus(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apps := scopedApps(r)
		if len(apps) == 0 {
			h.ServeHTTP(w, r)
			return
		}
		fail := func(code int, err error) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":%q}`, err.Error())
		}
		p := r.URL.Path
		switch {
		case p == "/api/v1/status/buildinfo":
		case p == "/api/v1/query" || p == "/api/v1/query_range" || p == "/api/v1/query_exemplars":
			if err := r.ParseForm(); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			q, err := monitor.ScopeQuery(r.Form.Get("query"), apps)
			if err != nil {
				fail(http.StatusBadRequest, fmt.Errorf("query: %w", err))
				return
			}
			setForm(r, "query", []string{q})
		case p == "/api/v1/series" || p == "/api/v1/labels" || strings.HasPrefix(p, "/api/v1/label/") || p == "/federate":
			if err := r.ParseForm(); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			sels, err := monitor.ScopeSelectors(r.Form["match[]"], apps)
			if err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			setForm(r, "match[]", sels)
		default:
			c, _ := callOf(r)
			fail(http.StatusForbidden, fmt.Errorf("token %q may see %s only, and %s spans every app: use a token without --apps",
				c.who.Name, strings.Join(apps, ", "), "/prometheus"+p))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// setForm replaces a parsed parameter wherever the handler may read it.
func setForm(r *http.Request, key string, v []string) {
	r.Form[key] = v
	if _, ok := r.PostForm[key]; ok {
		r.PostForm[key] = v
	}
	q := r.URL.Query()
	if q.Has(key) {
		q[key] = v
		r.URL.RawQuery = q.Encode()
	}
}
