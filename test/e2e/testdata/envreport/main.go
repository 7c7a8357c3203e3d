// Command envreport is a service that answers GET / with the values of the environment
// variables named in REPORT_VARS and the content and mode of the files named in
// REPORT_FILES (comma-separated, relative to its working dir), as JSON: what an
// instance was given.
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
		for _, path := range strings.Split(os.Getenv("REPORT_FILES"), ",") {
			if path == "" {
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				out["file:"+path] = err.Error()
				continue
			}
			fi, _ := os.Stat(path)
			out["file:"+path], out["mode:"+path] = string(b), fi.Mode().Perm().String()
		}
		json.NewEncoder(w).Encode(out)
	})
	if err := http.ListenAndServe(host()+":"+os.Getenv("PORT"), nil); err != nil {
		os.Exit(1)
	}
}

// host is where to listen: HOST (a pod's IP on Kubernetes), or loopback.
func host() string {
	if h := os.Getenv("HOST"); h != "" {
		return h
	}
	return "127.0.0.1"
}
