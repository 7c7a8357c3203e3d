package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/test/harness"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// dataDir is a data dir in the test's temp dir, which instances running as users of
// their own (the tests as root) can enter.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := harness.Enterable(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// start runs a server in-process and returns its info; it stops at cleanup.
func start(t *testing.T, dir string) Info {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: dir, APIAddr: freeAddr(t), GatewayAddr: freeAddr(t), Version: "test"}, func(i Info) { ready <- i })
	}()
	stopped := false
	t.Cleanup(func() {
		cancel()
		if stopped {
			return
		}
		if err := <-done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
	})
	select {
	case i := <-ready:
		return i
	case err := <-done:
		stopped = true
		t.Fatalf("server did not start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start within 60s")
	}
	return Info{}
}

func TestAPIRequiresTheTokenAndExplainsErrors(t *testing.T) {
	dir := dataDir(t)
	info := start(t, dir)
	st, err := os.Stat(filepath.Join(dir, "token"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v mode %v, want 0600", err, st.Mode())
	}
	resp, err := http.Get(info.API + "/v1/apps")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var eb v1.ErrorBody
	if resp.StatusCode != 401 || json.Unmarshal(body, &eb) != nil || !strings.Contains(eb.Error, "TEND_TOKEN") {
		t.Fatalf("without a token: %d %s", resp.StatusCode, body)
	}
	c := &api.Client{Base: info.API, Token: info.Token}
	ctx := context.Background()
	if v, err := c.Version(ctx); err != nil || v.Version != "test" {
		t.Fatalf("version: %+v %v", v, err)
	}
	if apps, err := c.Apps(ctx); err != nil || len(apps) != 0 {
		t.Fatalf("apps on a new server: %v %v", apps, err)
	}
	if _, err := c.Status(ctx, "nope"); !api.NotFound(err) {
		t.Fatalf("status of an unknown app: %v, want 404", err)
	}
	_, err = c.Deploy(ctx, v1.DeployRequest{File: "/tmp/tend.yaml", Source: "app: hello\ninstances: x\n"}, func(string) {})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != 400 || !strings.Contains(ae.Message, "/tmp/tend.yaml:2:12: instances") {
		t.Fatalf("invalid spec: %v, want a 400 naming file, line and field", err)
	}
	if _, err := c.Action(ctx, "nope", "promote", v1.ActionRequest{}); !api.NotFound(err) {
		t.Fatalf("promote an unknown app: %v", err)
	}
	resp, err = http.Get(info.API + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	// the dashboard page loads without the token (its data does not: see above)
	resp, err = http.Get(info.API + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<main id="apps">`) {
		t.Fatalf("dashboard at /: %d %.200s", resp.StatusCode, body)
	}
}

func TestSecondServerOnTheSameDataDirFails(t *testing.T) {
	dir := dataDir(t)
	start(t, dir)
	err := Run(context.Background(), Config{DataDir: dir, APIAddr: freeAddr(t), GatewayAddr: freeAddr(t)}, nil)
	if err == nil || !strings.Contains(err.Error(), "in use by another tend server") {
		t.Fatalf("second server: %v", err)
	}
}

// Two servers on one machine (or a collector on 4318) both start: the one that finds
// the usual OTLP port taken receives spans on another loopback port and says which.
func TestServersShareTheMachineWhenTheOTLPPortIsTaken(t *testing.T) {
	if ln, err := net.Listen("tcp", DefaultOTLPAddr); err == nil {
		defer ln.Close() // stands for a collector already running
	}
	a, b := start(t, dataDir(t)), start(t, dataDir(t))
	if a.OTLP == "" || a.OTLP == b.OTLP || a.OTLP == "http://"+DefaultOTLPAddr {
		t.Fatalf("OTLP receivers %q and %q: want two different ports, neither the taken %s", a.OTLP, b.OTLP, DefaultOTLPAddr)
	}
	for _, i := range []Info{a, b} {
		resp, err := http.Post(i.OTLP+"/v1/traces", "application/json", strings.NewReader(`{"resourceSpans":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("POST %s/v1/traces: %s, want 200", i.OTLP, resp.Status)
		}
	}
}
