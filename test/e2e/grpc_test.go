package e2e

import (
	"context"
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

// routeGuide returns grpc-go's route_guide example server or client, built by
// tools/grpc/build.sh into the user cache (TEND_GRPC_EXAMPLES names another directory).
func routeGuide(t *testing.T, cmd string) string {
	t.Helper()
	dir := os.Getenv("TEND_GRPC_EXAMPLES")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(cache, "tend", "grpc", grpcExamples)
	}
	bin := filepath.Join(dir, "route_guide_"+cmd)
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("grpc-go's route_guide_%s is not built (bash tools/grpc/build.sh builds it; .ci/run does): %v", cmd, err)
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
