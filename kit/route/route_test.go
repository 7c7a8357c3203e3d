package route

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPatternSeenByOuterMiddleware(t *testing.T) {
	mux := NewMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {})
	var got string
	h := Track(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// a middleware that replaces the request, as tracing does
		r2 := r.WithContext(r.Context())
		mux.ServeHTTP(w, r2)
		got = Pattern(r)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/123", nil))
	if got != "GET /users/{id}" {
		t.Fatalf("pattern %q", got)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nowhere", nil))
	if got != "unmatched" {
		t.Fatalf("unmatched path gave %q", got)
	}
}

func ExamplePattern() {
	mux := NewMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {})
	h := Track(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		fmt.Println(Pattern(r))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/orders/42", nil))
	// Output: GET /orders/{id}
}
