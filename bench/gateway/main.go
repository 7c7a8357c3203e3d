// Command gateway measures tend's gateway against the backend alone and a bare httputil.ReverseProxy with wrk, in interleaved rounds on loopback.
//
//	go run ./bench/gateway -rounds 3 -duration 5s -size 1024
//
// The backend runs in its own process (this program re-executed with -backend), so that
// it does not share a Go scheduler with the proxy under test; wrk must be on PATH
// (Debian package wrk).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/store"
)

func main() {
	backendAddr := flag.String("backend", "", "run as the backend on this address (internal)")
	size := flag.Int("size", 1024, "response size in bytes")
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	duration := flag.Duration("duration", 5*time.Second, "wrk duration per target and round")
	conns := flag.Int("connections", 64, "wrk connections")
	flag.Parse()
	if *backendAddr != "" {
		serveBackend(*backendAddr, *size)
		return
	}
	if err := run(*size, *rounds, *duration, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func serveBackend(addr string, size int) {
	body := bytes.Repeat([]byte("x"), size)
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })}
	_ = srv.ListenAndServe()
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func run(size, rounds int, d time.Duration, conns int) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk not found: apt-get install wrk")
	}
	backend := freeAddr()
	self, _ := os.Executable()
	b := exec.Command(self, "-backend", backend, "-size", strconv.Itoa(size))
	if err := b.Start(); err != nil {
		return err
	}
	defer b.Process.Kill()
	waitListening(backend)

	host, port, _ := net.SplitHostPort(backend)
	p, _ := strconv.Atoi(port)
	gw := gateway.New(gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	gw.SetState([]store.Route{{App: "bench", PathPrefix: "/", Splits: []store.Split{{Revision: 1, Weight: 100}}}},
		[]store.Endpoint{{Name: "bench", Address: host, Port: p, Metadata: map[string]string{"revision": "1", "instance": "b"}}})
	target, _ := url.Parse("http://" + backend)
	bare := httputil.NewSingleHostReverseProxy(target)
	bare.Transport = &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}

	targets := []struct{ name, addr string }{{"direct", backend}, {"tend gateway", serve(gw)}, {"bare ReverseProxy", serve(bare)}}
	results := map[string][]result{}
	for r := 0; r < rounds; r++ {
		for _, t := range targets {
			res, err := wrk(t.addr, d, conns)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			results[t.name] = append(results[t.name], res)
		}
	}
	fmt.Printf("%d-byte responses, wrk -t2 -c%d -d%s, median of %d interleaved rounds\n\n", size, conns, d, rounds)
	fmt.Println("| target | req/s | p50 | p99 | vs direct |")
	fmt.Println("|---|---|---|---|---|")
	direct := median(results["direct"]).rps
	for _, t := range targets {
		m := median(results[t.name])
		fmt.Printf("| %s | %.0f | %s | %s | %.2f |\n", t.name, m.rps, m.p50, m.p99, m.rps/direct)
	}
	return nil
}

func serve(h http.Handler) string {
	addr := freeAddr()
	go func() { _ = http.ListenAndServe(addr, h) }()
	waitListening(addr)
	return addr
}

func waitListening(addr string) {
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type result struct {
	rps      float64
	p50, p99 time.Duration
}

var (
	rpsRE = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	latRE = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)`)
)

func wrk(addr string, d time.Duration, conns int) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+d.String(), "--latency", "http://"+addr+"/").CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	var r result
	if m := rpsRE.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		return r, fmt.Errorf("errors during the run:\n%s", out)
	}
	for _, m := range latRE.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]
		lat := time.Duration(v * float64(unit))
		if string(m[1]) == "50" {
			r.p50 = lat
		} else {
			r.p99 = lat
		}
	}
	return r, nil
}

func median(rs []result) result {
	sorted := append([]result(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].rps < sorted[j].rps })
	return sorted[len(sorted)/2]
}
