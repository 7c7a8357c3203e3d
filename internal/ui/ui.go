// Package ui is tend's embedded web dashboard: static files that read the API with the user's token.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard is a static page: it holds no data and needs no token to load; its
// script reads the API with the token the user gives it (`tend dashboard` prints a link
// that carries it in the URL fragment, which browsers never send to the server).
//
//go:embed dashboard
var dashboardFiles embed.FS

// Handler serves the dashboard at / and its files under /ui/.
func Handler() http.Handler {
	sub, _ := fs.Sub(dashboardFiles, "dashboard")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/" {
			http.ServeFileFS(w, r, sub, "index.html")
			return
		}
		http.StripPrefix("/ui", files).ServeHTTP(w, r)
	})
}
