package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as the service under test when KIT_SERVER_CHILD is set.
func TestMain(m *testing.M) {
	if os.Getenv("KIT_SERVER_CHILD") == "1" {
		child()
		return
	}
	os.Exit(m.Run())
}

func child() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		fmt.Fprint(w, "slow done")
	})
	err := Run(context.Background(), Options{Handler: mux, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		DrainDelay: 700 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
		Ready: func(public, admin string) { fmt.Printf("READY %s %s\n", public, admin) }},
		Closer{Name: "db", Close: func(context.Context) error { fmt.Println("CLOSED db"); return nil }})
	if err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

func TestGracefulShutdown(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KIT_SERVER_CHILD=1")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(out)
	var public, admin string
	for lines.Scan() {
		if f := strings.Fields(lines.Text()); len(f) == 3 && f[0] == "READY" {
			public, admin = f[1], f[2]
			break
		}
	}
	if public == "" {
		t.Fatal("child never became ready")
	}
	// the admin port has metrics and pprof; the public one does not
	if code := status(t, "http://"+admin+"/metrics"); code != 200 {
		t.Errorf("admin /metrics: %d", code)
	}
	if code := status(t, "http://"+admin+"/debug/pprof/"); code != 200 {
		t.Errorf("admin pprof: %d", code)
	}
	if code := status(t, "http://"+public+"/debug/pprof/"); code == 200 {
		t.Error("pprof is on the public port")
	}
	slow := getLater("http://" + public + "/slow")
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if code := status(t, "http://"+public+"/ready"); code != 503 {
		t.Errorf("/ready during the drain: %d, want 503", code)
	}
	if got := <-slow; got != "slow done" {
		t.Errorf("in-flight request: %q, want it completed", got)
	}
	rest, _ := io.ReadAll(out)
	err := cmd.Wait()
	if err != nil {
		t.Fatalf("exit: %v, want status 0", err)
	}
	if !strings.Contains(string(rest), "CLOSED db") {
		t.Error("closer not called")
	}
	if c, err := net.DialTimeout("tcp", public, time.Second); err == nil {
		c.Close()
		t.Error("new connections are still accepted after shutdown")
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// getLater GETs url in the background and sends its body, or the error, when it ends.
func getLater(url string) <-chan string {
	out := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			out <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out <- string(b)
	}()
	return out
}
