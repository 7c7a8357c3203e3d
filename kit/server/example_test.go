package server_test

import (
	"context"
	"net/http"
	"os"

	"github.com/tendhq/tend/kit/server"
)

func ExampleRun() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	if os.Getenv("PORT") == "" {
		return // a real main serves on $PORT until SIGTERM
	}
	if err := server.Run(context.Background(), server.Options{Handler: mux}); err != nil {
		os.Exit(1)
	}
	// Output:
}
