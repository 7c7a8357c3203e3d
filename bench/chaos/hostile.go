package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/test/harness"
)

// hostileClients measures normal clients' latency through the gateway with and without
// slow attackers beside them: conns slowloris connections that send a request head a
// byte every few seconds, and conns slow-body connections that announce a body and send
// a byte a second. The slow bodies must get 408 once the route's body timeout passes;
// the normal clients' p99 should stay within 2× of the run without attackers.
func (b *bench) hostileClients(w io.Writer, conns, rps int) (int, error) {
	dir := filepath.Join(b.Dir, "hostile")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	defer harness.KillUnder(data)
	s, err := harness.Start(harness.Config{Bin: b.Bin, DataDir: data})
	if err != nil {
		return 0, err
	}
	defer s.Stop()
	const bodyTimeout = 5 * time.Second
	spec := filepath.Join(dir, "tend.yaml")
	body := harness.HelloSpec(b.Hello, 3, "1", harness.Rolling) + fmt.Sprintf("route: {timeouts: {body: %s}}\n", bodyTimeout)
	if err := os.WriteFile(spec, []byte(body), 0o644); err != nil {
		return 0, err
	}
	if out, err := s.Tend("deploy", "-f", spec); err != nil {
		return 0, fmt.Errorf("deploy: %w\n%s", err, out)
	}
	const hold = 15 * time.Second
	quiet := harness.StartLoad(s, rps, hold)
	time.Sleep(hold)
	base := quiet.Finish()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var held, got408, other atomic.Int64
	for i := 0; i < conns; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); slowloris(s.Gateway, stop, &held) }()
		go func() { defer wg.Done(); slowBody(s.Gateway, stop, &got408, &other) }()
	}
	time.Sleep(time.Second) // the attackers connect
	loud := harness.StartLoad(s, rps, hold)
	time.Sleep(hold)
	attacked := loud.Finish()
	close(stop)
	wg.Wait()

	fmt.Fprintf(w, "### Hostile clients beside normal ones\n\n")
	fmt.Fprintf(w, "3 instances of hello, %d req/s of `GET /` for %s through the gateway (`tend server`), first alone, then beside %d slowloris connections (a request head sent a byte every 2 s) and %d slow-body connections (`Content-Length: 1000`, a byte a second; the route's body timeout is %s).\n\n", rps, hold, conns, conns, bodyTimeout)
	fmt.Fprintln(w, "| run | requests | failed | p50 | p99 | max |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	row := func(name string, r harness.Result) {
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s |\n", name, r.OK+r.Failed, r.Failed, ms(r.Percentile(0.5)), ms(r.Percentile(0.99)), ms(r.Percentile(1)))
	}
	row("alone", base)
	row(fmt.Sprintf("beside %d + %d attackers", conns, conns), attacked)
	ratio := float64(attacked.Percentile(0.99)) / float64(max(base.Percentile(0.99), time.Microsecond))
	fmt.Fprintf(w, "\np99 beside the attackers: %.2f× the p99 alone (goal ≤ 2×). Slow bodies answered 408: %d of %d (other answers or errors: %d); slowloris connections still open at the end: %d of %d.\n",
		ratio, got408.Load(), conns, other.Load(), held.Load(), conns)
	unclean := 0
	if base.Failed > 0 || attacked.Failed > 0 || got408.Load() != int64(conns) {
		unclean = 1
	}
	return unclean, nil
}

// slowloris opens a connection and sends a request head a byte every 2 s until stop;
// held counts the connections the gateway still had open at the end.
func slowloris(addr string, stop <-chan struct{}, held *atomic.Int64) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	head := []byte("GET / HTTP/1.1\r\nHost: hello\r\nX-Slow: " + fmt.Sprint(time.Now().UnixNano()))
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			if _, err := c.Write([]byte("x")); err == nil {
				held.Add(1)
			}
			return
		case <-t.C:
		}
		if _, err := c.Write(head[i%len(head) : i%len(head)+1]); err != nil {
			return
		}
	}
}

// slowBody sends a POST announcing 1000 bytes and sends a byte a second; it counts the
// 408 answers and anything else.
func slowBody(addr string, stop <-chan struct{}, got408, other *atomic.Int64) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		other.Add(1)
		return
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: hello\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		other.Add(1)
		return
	}
	answered := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case code := <-answered:
			if code == http.StatusRequestTimeout {
				got408.Add(1)
			} else {
				other.Add(1)
			}
			return
		case <-stop:
			other.Add(1)
			return
		case <-t.C:
			_, _ = c.Write([]byte("x"))
		}
	}
}
