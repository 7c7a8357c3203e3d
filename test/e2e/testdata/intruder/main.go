// Command intruder is a service that tries what a compromised app would: it reports,
// as JSON on GET /, whom it runs as and whether it could read tend's API token, list
// tend's data dir, write its working dir, and signal tend's server.
package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// attempt is "ok" when the action succeeded, else its error.
func attempt(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func main() {
	data, tend := os.Getenv("PROBE_DATA"), os.Getenv("PROBE_PID")
	http.HandleFunc("GET /ready", func(http.ResponseWriter, *http.Request) {})
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		_, readErr := os.ReadFile(filepath.Join(data, "token"))
		_, listErr := os.ReadDir(data)
		_, etcdErr := os.ReadDir(filepath.Join(data, "etcd"))
		_, artifactsErr := os.ReadDir(filepath.Join(data, "artifacts"))
		writeErr := os.WriteFile("scratch", []byte("mine"), 0o600)
		pid, _ := strconv.Atoi(tend)
		_, hasPath := os.LookupEnv("TEND_DATA_DIR")
		json.NewEncoder(w).Encode(map[string]any{
			"uid": os.Getuid(), "gid": os.Getgid(),
			"readToken": attempt(readErr), "listData": attempt(listErr), "listEtcd": attempt(etcdErr), "listArtifacts": attempt(artifactsErr),
			"writeWorkdir": attempt(writeErr), "signalTend": attempt(syscall.Kill(pid, 0)),
			"toldDataDir": hasPath,
		})
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		os.Exit(1)
	}
}
