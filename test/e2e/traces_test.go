package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
)

// TestATraceFollowsARequestThroughTwoServices: a request without a traceparent through
// the gateway to front, which calls back through the gateway: the response's traceparent
// names a trace whose spans tend trace shows in parent order (the gateway's, front's
// server and client spans, the gateway's for back, back's), with the log lines of both
// apps for that trace, none of it set up by the apps (tend sets OTEL_EXPORTER_OTLP_ENDPOINT).
func TestATraceFollowsARequestThroughTwoServices(t *testing.T) {
	s := startServer(t, t.TempDir(), "--trace-sample", "1")
	app := func(name, env, host string) string {
		spec := strings.Replace(specWith("1", rolling), "app: hello", "app: "+name, 1)
		spec = strings.Replace(spec, "instances: 3", "instances: 1", 1)
		spec = strings.Replace(spec, `env: {RELEASE: "1"}`, `env: {RELEASE: "1"`+env+`}`, 1)
		return writeSpec(t, t.TempDir(), spec+"route: {hosts: ["+host+"]}\n")
	}
	s.mustTend("deploy", "-f", app("back", "", "back.test"))
	s.mustTend("deploy", "-f", app("front", `, HELLO_CALL_URL: "http://`+s.Gateway+`/", HELLO_CALL_HOST: back.test`, "front.test"))

	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Gateway+"/", nil)
	req.Host = "front.test"
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent := resp.Header.Get("Traceparent")
	parts := strings.Split(parent, "-")
	if resp.StatusCode != 200 || len(parts) != 4 || len(parts[1]) != 32 {
		t.Fatalf("GET / of front: %d, traceparent %q, want 200 and a W3C traceparent", resp.StatusCode, parent)
	}
	id := parts[1]

	var view struct {
		Spans []v1.Span `json:"spans"`
		Logs  []struct {
			App  string `json:"app"`
			Text string `json:"text"`
		} `json:"logs"`
	}
	// kit's exporter sends its spans every 5s
	waitFor(t, 30*time.Second, "the trace's five spans and both apps' log lines", func() error {
		out, err := s.tend("trace", id, "-o", "json")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &view); err != nil {
			return fmt.Errorf("tend trace -o json: %w\n%s", err, out)
		}
		apps := map[string]bool{}
		for _, l := range view.Logs {
			if strings.Contains(l.Text, id) {
				apps[l.App] = true
			}
		}
		if len(view.Spans) < 5 || !apps["front"] || !apps["back"] {
			return fmt.Errorf("%d spans, log lines of %v", len(view.Spans), apps)
		}
		return nil
	})
	byID := map[string]v1.Span{}
	for _, sp := range view.Spans {
		byID[sp.SpanID] = sp
	}
	// from back's server span up to the root, the services in order
	var chain []string
	var leaf v1.Span
	for _, sp := range view.Spans {
		if sp.Service == "back" && sp.Kind == v1.SpanServer {
			leaf = sp
		}
	}
	for sp, ok := leaf, leaf.SpanID != ""; ok; sp, ok = byID[sp.ParentID] {
		chain = append([]string{sp.Service + "/" + string(sp.Kind)}, chain...)
		if time.Duration(sp.Duration) <= 0 {
			t.Errorf("span %s %s has no duration", sp.Service, sp.Name)
		}
	}
	want := "tend-gateway/server front/server front/client tend-gateway/server back/server"
	if strings.Join(chain, " ") != want {
		t.Errorf("the trace's chain from the root to back: %q, want %q", strings.Join(chain, " "), want)
	}
	if root := byID[chain0(view.Spans)]; root.ParentID != "" || root.App != "front" {
		t.Errorf("the root span: %+v, want the gateway's span of front, without a parent", root)
	}

	// the human form: the tree, both apps' lines; and the listing finds it
	out := s.mustTend("trace", id)
	t.Log(out)
	for _, w := range []string{"tend-gateway GET front", "└─ front ", "tend-gateway GET back", "back GET /", "┄ front-1-", "┄ back-1-"} {
		if !strings.Contains(out, w) {
			t.Errorf("tend trace does not show %q:\n%s", w, out)
		}
	}
	if list := s.mustTend("traces", "back", "-o", "json"); !strings.Contains(list, id) {
		t.Errorf("tend traces back does not list %s:\n%s", id, list)
	}

	// tend logs --trace finds the same lines across apps through the logs' index, and
	// with an app only that app's
	byApp := func(args ...string) map[string]int {
		n := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(s.mustTend(append([]string{"logs", "--trace", id, "-o", "json"}, args...)...)), "\n") {
			var l struct {
				App, Text string
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil || !strings.Contains(l.Text, id) {
				t.Fatalf("tend logs --trace -o json line %q: %v, want JSON with the trace's id", line, err)
			}
			n[l.App]++
		}
		return n
	}
	if n := byApp(); n["front"] == 0 || n["back"] == 0 {
		t.Errorf("tend logs --trace %s: lines by app %v, want front's and back's", id, n)
	}
	if n := byApp("back"); n["front"] != 0 || n["back"] == 0 {
		t.Errorf("tend logs --trace %s back: lines by app %v, want back's only", id, n)
	}
}

// chain0 is the id of the span without a parent.
func chain0(spans []v1.Span) string {
	for _, s := range spans {
		if s.ParentID == "" {
			return s.SpanID
		}
	}
	return ""
}
