package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// grpcExamples is the version of google.golang.org/grpc/examples that
// tools/grpc/build.sh builds.
const grpcExamples = "v0.0.0-20260825154716-030ee8becb20"

// routeGuide returns grpc-go's route_guide example server or client.
func routeGuide(t *testing.T, cmd string) string { return grpcTool(t, "route_guide_"+cmd) }

// grpcTool returns a program tools/grpc/build.sh built into the user cache
// (TEND_GRPC_EXAMPLES names another directory).
func grpcTool(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("TEND_GRPC_EXAMPLES")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(cache, "tend", "grpc", grpcExamples)
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s is not built (bash tools/grpc/build.sh builds it; .ci/run does): %v", name, err)
	}
	return bin
}

// TestGRPCThroughTheGateway: grpc-go's route_guide server, deployed by tend (its port as
// a flag, a TCP readiness probe, route.protocol http2), answers grpc-go's route_guide
// client through the gateway: a unary call, a server stream, a client stream and a
// bidirectional stream.
func TestGRPCThroughTheGateway(t *testing.T) {
	server, client := routeGuide(t, "server"), routeGuide(t, "client")
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	spec := fmt.Sprintf(`app: routeguide
build: {binary: %s}
instances: 2
args: ["-port=$PORT"]
route: {protocol: http2}
health:
  readiness: {tcp: true, interval: 300ms, timeout: 250ms}
metrics: false
shutdown: {grace: 2s, drain: 200ms}
`, server)
	out := s.mustTend("deploy", "-f", writeSpec(t, dir, spec))
	if !strings.Contains(out, "routeguide revision 1 serves") {
		t.Fatalf("deploy output:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := exec.CommandContext(ctx, client, "-addr", s.Gateway)
	got, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("route_guide client through the gateway: %v\n%s", err, got)
	}
	// what the example client prints for each kind of call
	for _, want := range []string{"Getting feature for point (409146138, -746188906)", // unary
		"Looking for features within", // server stream
		"Traversing",                  // client stream
		"Got message First message"} { // bidirectional stream
		if !strings.Contains(string(got), want) {
			t.Errorf("the client's output lacks %q:\n%s", want, got)
		}
	}
	time.Sleep(2 * time.Second) // the gateway's metrics are recorded every second
	if v := queryValue(t, s, `sum(tend_gateway_requests_total{app="routeguide", code="200"}) or vector(0)`); v != "5" {
		// the client makes two unary calls (a point with a feature, one without) and one of each stream
		t.Errorf("tend_gateway_requests_total counts %s successful calls of routeguide, want 5", v)
	}
}

// greeter returns tend's gRPC canary greeter server or its client (tools/grpc/canary),
// built by tools/grpc/build.sh beside the route_guide examples.
func greeter(t *testing.T, cmd string) string { return grpcTool(t, "canary_"+cmd) }

// greeterSpec is a tend.yaml for the greeter with a gRPC readiness probe and the given
// env and canary block.
func greeterSpec(bin, env, canary string) string {
	return fmt.Sprintf(`app: greeter
build: {binary: %s}
instances: 2
env: {%s}
route: {protocol: http2}
health:
  readiness: {grpc: {service: ""}, interval: 300ms, timeout: 250ms}
metrics: false
shutdown: {grace: 2s, drain: 200ms}
strategy:
  canary:
%s
  progressDeadline: 30s
`, bin, env, canary)
}

// callsThrough runs the greeter client through the gateway and returns its counts.
func callsThrough(t *testing.T, s *server, client string, rps int, d time.Duration) (replies, codes map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, client, "-addr", s.Gateway, "-rps", fmt.Sprint(rps), "-duration", d.String()).Output()
	if err != nil {
		t.Fatalf("greeter client: %v\n%s", err, out)
	}
	var res struct {
		Replies map[string]int `json:"replies"`
		Codes   map[string]int `json:"codes"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("greeter client output %q: %v", out, err)
	}
	return res.Replies, res.Codes
}

// TestGRPCCanarySplitsCallsAndIsRolledBackOnUnavailable: a gRPC canary at 50% gets half
// the calls; one that answers UNAVAILABLE to a tenth of its calls fails its error-rate
// analysis (a gRPC status counts as the HTTP status of the same meaning) and is rolled
// back, while the stable revision answers every call.
func TestGRPCCanarySplitsCallsAndIsRolledBackOnUnavailable(t *testing.T) {
	server, client := greeter(t, "server"), greeter(t, "client")
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	half := `    steps: [{weight: 50}, {pause: {}}]`
	s.mustTend("deploy", "-f", writeSpec(t, dir, greeterSpec(server, `RELEASE: "1"`, half)))
	if out, err := s.tend("deploy", "-f", writeSpec(t, dir, greeterSpec(server, `RELEASE: "2"`, half))); exitCode(err) != 3 {
		t.Fatalf("canary deploy: exit %d, want 3 (paused at weight 50):\n%s", exitCode(err), out)
	}
	replies, codes := callsThrough(t, s, client, 200, 3*time.Second)
	one, two := replies["revision 1"], replies["revision 2"]
	t.Logf("at 50%%: %v, codes %v", replies, codes)
	if codes["OK"] != one+two || one+two < 400 {
		t.Fatalf("calls %v, codes %v: want every call OK", replies, codes)
	}
	if share := float64(two) / float64(one+two); share < 0.4 || share > 0.6 {
		t.Errorf("revision 2 answered %.0f%% of the calls at weight 50, want about half", 100*share)
	}
	s.mustTend("abort", "greeter")

	// a canary failing 10% of its calls with UNAVAILABLE, at 10% of the traffic
	faulty := `    steps: [{weight: 10}, {analysis: {}}]
    analysis: {interval: 3s, checks: [{name: error-rate, max: 1%}]}`
	done := make(chan struct{})
	var replies2, codes2 map[string]int
	go func() { defer close(done); replies2, codes2 = callsThrough(t, s, client, 200, 25*time.Second) }()
	time.Sleep(2 * time.Second)
	out, err := s.tend("deploy", "-f", writeSpec(t, dir, greeterSpec(server, `RELEASE: "3", FAULT_UNAVAILABLE_RATE: "0.1"`, faulty)))
	<-done
	t.Logf("deploy: exit %d\n%s\ncalls %v, codes %v", exitCode(err), out, replies2, codes2)
	if exitCode(err) != 2 || !strings.Contains(out, "error-rate") {
		t.Fatalf("deploy of a canary failing 10%% of calls with UNAVAILABLE: exit %d, want 2 (rolled back, error-rate named):\n%s", exitCode(err), out)
	}
	if st := s.status("greeter"); st.Rollout.Stable != 1 {
		t.Errorf("stable revision %d after the rollback, want 1", st.Rollout.Stable)
	}
	// only the canary's calls failed: about 10% of 10%
	failed := 0
	for code, n := range codes2 {
		if code != "OK" {
			failed += n
		}
	}
	if total := failed + codes2["OK"]; total == 0 || float64(failed)/float64(total) > 0.05 {
		t.Errorf("%d of %d calls failed during the faulty canary, want about 1%%", failed, total)
	}
}
