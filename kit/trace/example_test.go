package trace_test

import (
	"context"
	"net/http"

	"github.com/tendhq/tend/kit/route"
	"github.com/tendhq/tend/kit/trace"
)

func ExampleSetup() {
	shutdown, err := trace.Setup(context.Background(), trace.Options{Service: "hello", Version: "v1"})
	if err != nil {
		panic(err)
	}
	defer shutdown(context.Background())
	mux := route.NewMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {})
	client := &http.Client{Transport: trace.Transport(nil)} // outgoing calls carry the trace
	_ = client
	_ = route.Track(trace.Middleware(mux))
	// Output:
}
