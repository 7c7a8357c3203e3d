package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// jaegerVersion is the version of github.com/jaegertracing/jaeger tools/jaeger/build.sh builds.
const jaegerVersion = "v1.75.0"

// jaegerBin returns the Jaeger tools/jaeger/build.sh built into the user cache
// (TEND_JAEGER names another binary).
func jaegerBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("TEND_JAEGER")
	if bin == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(cache, "tend", "jaeger", jaegerVersion, "jaeger")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("jaeger is not built (bash tools/jaeger/build.sh builds it; .ci/run does): %v", err)
	}
	return bin
}

// startJaeger runs Jaeger with its memory store, its OTLP/HTTP receiver and its query
// API on free loopback ports, and returns their addresses.
func startJaeger(t *testing.T) (otlp, query string) {
	bin := jaegerBin(t)
	addrs := make([]string, 3)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = a
	}
	otlp, query = addrs[0], addrs[1]
	cfg := writeFile(t, "jaeger.yaml", fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [jaeger_storage_exporter]}
  telemetry:
    metrics: {level: none}
extensions:
  jaeger_query:
    storage: {traces: mem}
    http: {endpoint: "%s"}
    grpc: {endpoint: "%s"}
  jaeger_storage:
    backends:
      mem: {memory: {max_traces: 10000}}
receivers:
  otlp:
    protocols:
      http: {endpoint: "%s"}
processors:
  batch: {timeout: 200ms}
exporters:
  jaeger_storage_exporter: {trace_storage: mem}
`, query, addrs[2], otlp))
	startProgram(t, "jaeger", exec.Command(bin, "--config", cfg))
	waitFor(t, 60*time.Second, "Jaeger's query API", func() error {
		resp, err := http.Get("http://" + query + "/api/services")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return otlp, query
}

// TestSpansForwardedToJaegerAreFoundThroughItsQueryAPI: with --otlp-export, the
// gateway's span of a request and the kit service's own spans reach a real Jaeger, which
// answers the trace by its id with both services, the gateway's span the parent of hello's.
func TestSpansForwardedToJaegerAreFoundThroughItsQueryAPI(t *testing.T) {
	otlp, query := startJaeger(t)
	s := startServer(t, t.TempDir(), "--trace-sample", "1", "--otlp-export", "http://"+otlp)
	spec := strings.Replace(specWith("1", rolling), "instances: 3", "instances: 1", 1)
	s.mustTend("deploy", "-f", writeSpec(t, t.TempDir(), spec))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + s.Gateway + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parts := strings.Split(resp.Header.Get("Traceparent"), "-")
	if resp.StatusCode != 200 || len(parts) != 4 {
		t.Fatalf("GET /: %s, traceparent %q", resp.Status, resp.Header.Get("Traceparent"))
	}
	id := parts[1]
	type jaegerSpan struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
	}
	var got struct {
		Data []struct {
			TraceID   string       `json:"traceID"`
			Spans     []jaegerSpan `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	// kit exports every 5s, tend forwards as spans arrive
	waitFor(t, 40*time.Second, "the trace in Jaeger with tend-gateway's and hello's spans", func() error {
		resp, err := http.Get("http://" + query + "/api/traces/" + id)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		got.Data = nil
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			return fmt.Errorf("GET /api/traces/%s: %s, %w", id, resp.Status, err)
		}
		if len(got.Data) != 1 {
			return fmt.Errorf("GET /api/traces/%s: %s, %d traces", id, resp.Status, len(got.Data))
		}
		var services []string
		for _, p := range got.Data[0].Processes {
			services = append(services, p.ServiceName)
		}
		if !slices.Contains(services, "tend-gateway") || !slices.Contains(services, "hello") {
			return fmt.Errorf("services %v", services)
		}
		return nil
	})
	tr := got.Data[0]
	var gateway *jaegerSpan
	for i, sp := range tr.Spans {
		if tr.Processes[sp.ProcessID].ServiceName == "tend-gateway" {
			gateway = &tr.Spans[i]
		}
	}
	child := slices.ContainsFunc(tr.Spans, func(sp jaegerSpan) bool {
		return tr.Processes[sp.ProcessID].ServiceName == "hello" && len(sp.References) > 0 &&
			sp.References[0].RefType == "CHILD_OF" && gateway != nil && sp.References[0].SpanID == gateway.SpanID
	})
	if gateway == nil || !child {
		t.Fatalf("Jaeger's trace %s: %+v\nwant a span of hello that is a CHILD_OF tend-gateway's", id, tr.Spans)
	}
	if gateway.OperationName != "GET hello" {
		t.Errorf("the gateway's span in Jaeger is %q, want GET hello", gateway.OperationName)
	}
	// Jaeger lists both services, as its UI's search does
	resp, err = http.Get("http://" + query + "/api/services")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var services struct{ Data []string }
	if err := json.NewDecoder(resp.Body).Decode(&services); err != nil || !slices.Contains(services.Data, "tend-gateway") || !slices.Contains(services.Data, "hello") {
		t.Fatalf("Jaeger's /api/services: %v %v", err, services.Data)
	}
}
