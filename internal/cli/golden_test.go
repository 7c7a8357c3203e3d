package cli

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// What `tend status|history|routes|analysis -o json|yaml|wide` print, against a server that
// answers with the API's own golden bodies (internal/api/testdata/golden: a canary paused
// after its analysis): durations as strings, no zero times, enums as documented.
func TestOutputOfStatusHistoryRoutesAndAnalysis(t *testing.T) {
	bodies := map[string]string{"/v1/apps/hello": "app.json", "/v1/apps/hello/history": "history.json", "/v1/gateway": "routes.json"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := bodies[r.URL.Path]
		if !ok || r.Header.Get("Authorization") != "Bearer t" {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join("..", "api", "testdata", "golden", name))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set(v1.VersionHeader, "1")
		w.Write(b)
	}))
	defer srv.Close()
	var (
		nanoDuration = regexp.MustCompile(`(grace|drain|interval|timeout|rollbackWindow|progressDeadline|response)"?: *[0-9.e+]+,?\n`)
		float        = regexp.MustCompile(`[0-9]e[+-][0-9]`)
	)
	for _, cmd := range [][]string{{"status", "hello"}, {"history", "hello"}, {"routes"}, {"analysis", "hello"}} {
		formats := []string{"json", "yaml"}
		if cmd[0] != "analysis" {
			formats = append(formats, "wide") // the table with every column: no age relative to now
		}
		for _, format := range formats {
			name := cmd[0] + "." + format
			t.Run(name, func(t *testing.T) {
				root := newRoot()
				var out bytes.Buffer
				root.SetOut(&out)
				root.SetErr(&out)
				root.SetArgs(append(cmd, "-o", format, "--api", srv.URL, "--token", "t"))
				if err := root.Execute(); err != nil {
					t.Fatalf("tend %s -o %s: %v\n%s", strings.Join(cmd, " "), format, err, out.String())
				}
				got := out.String()
				for _, bad := range []*regexp.Regexp{nanoDuration, float, regexp.MustCompile("0001-01-01")} {
					if m := bad.FindString(got); m != "" {
						t.Errorf("%q in the output", m)
					}
				}
				path := filepath.Join("testdata", "golden", name)
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (go test -update writes it)", err)
				}
				if got != string(want) {
					t.Errorf("%s changed (go test -update rewrites it if the change is meant):\n%s", path, got)
				}
			})
		}
	}
}
