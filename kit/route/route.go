// Package route records which ServeMux pattern served a request, so that logs, metrics and traces name routes, not raw paths.
package route

import (
	"context"
	"net/http"
)

type key struct{}

// info is shared by the middleware that asks (outside) and the mux that knows (inside).
// It is its own context node, so that tracking costs one allocation, not two.
type info struct {
	context.Context
	pattern string
}

func (i *info) Value(k any) any {
	if k == (key{}) {
		return i
	}
	return i.Context.Value(k)
}

// Track makes the matched pattern of every request visible to Pattern. Put it outside
// the middleware that reads Pattern, and serve routes with a Mux.
func Track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(key{}) != nil {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(&info{Context: r.Context()}))
	})
}

// Pattern is the ServeMux pattern that served r ("GET /users/{id}"), or "unmatched".
// Call it after the handler ran.
func Pattern(r *http.Request) string {
	if i, ok := r.Context().Value(key{}).(*info); ok && i.pattern != "" {
		return i.pattern
	}
	if r.Pattern != "" {
		return r.Pattern
	}
	return "unmatched"
}

// Mux is an http.ServeMux that records the pattern each request matched.
type Mux struct {
	*http.ServeMux
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{ServeMux: http.NewServeMux()} }

// Handle registers h for pattern (Go ServeMux syntax, e.g. "GET /users/{id}").
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i, ok := r.Context().Value(key{}).(*info); ok {
			i.pattern = r.Pattern
		}
		h.ServeHTTP(w, r)
	}))
}

// HandleFunc registers fn for pattern.
func (m *Mux) HandleFunc(pattern string, fn func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(fn))
}
