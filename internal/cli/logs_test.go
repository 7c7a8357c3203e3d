package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
)

// logsServer answers GET /v1/apps/hello/logs with lines, and records the query it was asked.
func logsServer(t *testing.T, lines ...v1.LogLine) (*httptest.Server, *url.Values) {
	t.Helper()
	var asked url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/apps/hello/logs" {
			http.NotFound(w, r)
			return
		}
		asked = r.URL.Query()
		w.Header().Set(v1.VersionHeader, "1")
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, l := range lines {
			_ = enc.Encode(l)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &asked
}

func TestLogsPrintsTextAndNDJSON(t *testing.T) {
	cliEnv(t)
	t.Setenv("NO_COLOR", "")
	local := time.Local
	time.Local = time.FixedZone("UTC+1", 3600)
	t.Cleanup(func() { time.Local = local })
	at := time.Date(2026, 12, 1, 9, 0, 0, 120_000_000, time.UTC)
	srv, asked := logsServer(t,
		v1.LogLine{Instance: "hello-2-ab12", Revision: 2, At: at,
			Text: `{"time":"2026-12-01T09:00:00.12Z","level":"INFO","msg":"request done","status":200,"path":"/a b","req":{"id":"x1"},"ok":true}`},
		v1.LogLine{Instance: "hello-2-cd34", Revision: 2, At: at.Add(time.Second), Text: `{"time":"2026-12-01T09:00:01.12Z","level":"WARN","msg":"slow","took":"2s"}`},
		v1.LogLine{Instance: "hello-2-cd34", Revision: 2, At: at.Add(2 * time.Second), Text: "panic: plain text"},
	)
	out := mustRun(t, "", "logs", "hello", "--api", srv.URL, "--token", "t")
	want := `10:00:00.120  hello-2-ab12  request done status=200 path="/a b" req.id=x1 ok=true
10:00:01.120  hello-2-cd34  WARN slow took=2s
10:00:02.120  hello-2-cd34  panic: plain text
`
	if out != want {
		t.Errorf("text:\n%s\nwant\n%s", out, want)
	}
	if got := asked.Encode(); got != "tail=100" {
		t.Errorf("asked %s, want tail=100 alone", got)
	}
	out = mustRun(t, "", "logs", "hello", "--timestamps", "--api", srv.URL, "--token", "t")
	if !strings.HasPrefix(out, "2026-12-01T10:00:00.120+01:00  hello-2-ab12  request done") {
		t.Errorf("--timestamps:\n%s", out)
	}

	out = mustRun(t, "", "logs", "hello", "-o", "json", "--api", srv.URL, "--token", "t")
	rows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(rows) != 3 {
		t.Fatalf("-o json: %d lines, want 3:\n%s", len(rows), out)
	}
	var first, last map[string]any
	if err := json.Unmarshal([]byte(rows[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(rows[2]), &last); err != nil {
		t.Fatal(err)
	}
	fields, _ := first["fields"].(map[string]any)
	if first["at"] != "2026-12-01T09:00:00.12Z" || first["instance"] != "hello-2-ab12" || first["revision"] != 2.0 ||
		fields["msg"] != "request done" || fields["status"] != 200.0 || !strings.HasPrefix(first["text"].(string), `{"time"`) {
		t.Errorf("first NDJSON line: %s", rows[0])
	}
	if _, ok := last["fields"]; ok || last["text"] != "panic: plain text" {
		t.Errorf("a plain line has fields or lost its text: %s", rows[2])
	}
}

func TestLogsSendsItsFiltersAndChecksThemFirst(t *testing.T) {
	cliEnv(t)
	srv, asked := logsServer(t)
	mustRun(t, "", "logs", "hello", "--api", srv.URL, "--token", "t", "--since", "10m", "--until", "2026-12-01T10:00:00Z",
		"--grep", "status=5", "--level", "warn", "--revision", "3", "--instance", "hello-3-ab12", "--all", "-f")
	for k, v := range map[string]string{"since": "10m", "until": "2026-12-01T10:00:00Z", "grep": "status=5", "level": "warn",
		"revision": "3", "instance": "hello-3-ab12", "all": "1", "follow": "1", "tail": "-1"} {
		if got := asked.Get(k); got != v {
			t.Errorf("%s=%q, want %q (asked %s)", k, got, v, asked.Encode())
		}
	}
	mustRun(t, "", "logs", "hello", "--api", srv.URL, "--token", "t", "--since", "1h", "--tail", "0", "-f")
	if asked.Get("tail") != "0" {
		t.Errorf("--tail 0 with --since: asked %s", asked.Encode())
	}
	for _, args := range [][]string{{"--since", "yesterday"}, {"--until", "soon"}, {"--grep", "("}, {"--level", "loud"}, {"-o", "yaml"}} {
		_, _, err := run(t, "", append([]string{"logs", "hello", "--api", srv.URL, "--token", "t"}, args...)...)
		var ec *exitCodeError
		if !errors.As(err, &ec) || ec.code != exitInvalid {
			t.Errorf("tend logs %v: %v, want exit %d", args, err, exitInvalid)
		}
	}
}

func TestLogsEndsWithTheServersError(t *testing.T) {
	cliEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(v1.VersionHeader, "1")
		fmt.Fprintln(w, `{"instance":"hello-1-ab12","text":"one","at":"2026-12-01T09:00:00Z"}`)
		fmt.Fprintln(w, `{"error":"read log: disk on fire"}`)
	}))
	defer srv.Close()
	out, _, err := run(t, "", "logs", "hello", "--api", srv.URL, "--token", "t")
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(out, "one") {
		t.Errorf("got %q, %v; want the line, then the error", out, err)
	}
}
