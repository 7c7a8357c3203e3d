// Command envreport is a service that answers GET / with the values of the environment
// variables named in REPORT_VARS (comma-separated), as JSON: what an instance was given.
package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
)

func main() {
	http.HandleFunc("GET /ready", func(http.ResponseWriter, *http.Request) {})
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]string{}
		for _, name := range strings.Split(os.Getenv("REPORT_VARS"), ",") {
			out[name] = os.Getenv(name)
		}
		json.NewEncoder(w).Encode(out)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		os.Exit(1)
	}
}
