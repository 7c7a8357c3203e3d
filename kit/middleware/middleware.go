// Package middleware holds the HTTP middleware a production service needs: recover, request IDs, security headers, CORS, per-client rate limits, body limits and timeouts.
package middleware

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain applies mws so that the first is the outermost.
func Chain(h http.Handler, mws ...Middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Recover turns a panic into a 500 and logs it with its stack and the request ID (set by
// RequestID, inside or outside it: RequestID writes it into the request's headers).
func Recover(logger *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					logger.ErrorContext(r.Context(), "panic serving request", "panic", v, "method", r.Method, "path", r.URL.Path,
						"request_id", r.Header.Get("X-Request-Id"), "stack", string(debug.Stack()))
					http.Error(w, "internal server error", http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// RequestID keeps an incoming X-Request-Id (when it is short and printable) or makes
// one, and echoes it in the response.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		var v []string
		if !validID(id) {
			id = newRequestID()
			v = []string{id}
			r.Header["X-Request-Id"] = v
		} else {
			v = r.Header["X-Request-Id"][:1:1]
		}
		w.Header()["X-Request-Id"] = v
		next.ServeHTTP(w, r)
	})
}

// requestIDs are a random per-process prefix and a counter: unique, cheap, and 24 characters.
var (
	requestIDPrefix = func() string {
		var b [6]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	requestIDSeq atomic.Uint64
)

func newRequestID() string {
	var buf [24]byte
	copy(buf[:], requestIDPrefix)
	n := requestIDSeq.Add(1)
	for i := len(buf) - 1; i >= len(requestIDPrefix); i-- {
		buf[i] = "0123456789abcdef"[n&0xf]
		n >>= 4
	}
	return string(buf[:])
}

func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// SecurityHeaders sets the seed's headers on every response: no sniffing, no framing,
// HSTS, a strict referrer policy, and the given Content-Security-Policy (default
// "default-src 'self'").
func SecurityHeaders(csp string) Middleware {
	if csp == "" {
		csp = "default-src 'self'"
	}
	// values are built once and shared: full-capacity slices, so an append copies
	headers := map[string][]string{
		"X-Content-Type-Options":    {"nosniff"},
		"X-Frame-Options":           {"DENY"},
		"X-Xss-Protection":          {"0"}, // the legacy filter does harm; CSP replaces it
		"Strict-Transport-Security": {"max-age=31536000; includeSubDomains"},
		"Referrer-Policy":           {"strict-origin-when-cross-origin"},
		"Content-Security-Policy":   {csp},
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for k, v := range headers {
				h[k] = v
			}
			next.ServeHTTP(w, r)
		})
	}
}

// CORSOptions say which cross-origin requests are allowed.
type CORSOptions struct {
	// Origins are exact origins like https://app.example.com; "*" allows any (without credentials).
	Origins          []string
	Methods          []string // default GET, POST, PUT, PATCH, DELETE
	Headers          []string // default Content-Type, Authorization
	AllowCredentials bool
	MaxAge           time.Duration
}

// CORS answers preflight requests and adds the CORS headers for allowed origins only.
func CORS(o CORSOptions) Middleware {
	allowed := map[string]bool{}
	any := false
	for _, origin := range o.Origins {
		allowed[origin] = true
		any = any || origin == "*"
	}
	if len(o.Methods) == 0 {
		o.Methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	}
	if len(o.Headers) == 0 {
		o.Headers = []string{"Content-Type", "Authorization"}
	}
	methods, headers := strings.Join(o.Methods, ", "), strings.Join(o.Headers, ", ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			if origin == "" {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h.Add("Vary", "Origin")
			ok := allowed[origin] || (any && !o.AllowCredentials)
			if ok {
				h.Set("Access-Control-Allow-Origin", origin)
				if o.AllowCredentials {
					h.Set("Access-Control-Allow-Credentials", "true")
				}
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				if !ok {
					http.Error(w, "origin not allowed", http.StatusForbidden)
					return
				}
				h.Set("Access-Control-Allow-Methods", methods)
				h.Set("Access-Control-Allow-Headers", headers)
				if o.MaxAge > 0 {
					h.Set("Access-Control-Max-Age", strconv.Itoa(int(o.MaxAge.Seconds())))
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// BodyLimit answers 413 to requests whose body is larger than n bytes.
func BodyLimit(n int64) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				http.Error(w, "request body too large (limit "+strconv.FormatInt(n, 10)+" bytes)", http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

// Timeout answers 503 when the handler takes longer than d (its context is cancelled).
func Timeout(d time.Duration) Middleware {
	return func(next http.Handler) http.Handler {
		return http.TimeoutHandler(next, d, "request timed out")
	}
}
