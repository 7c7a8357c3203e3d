// Command gateway measures tend's gateway as users run it (`tend server`, its gateway
// process, the backend deployed by `tend deploy`) against the backend alone, the gateway
// package alone in a bare process, a bare httputil.ReverseProxy, and the peers users pick
// instead (nginx, haproxy, caddy), with wrk in interleaved rounds on loopback, and prints a
// Markdown table.
//
//	go build -o /tmp/tend ./cmd/tend && go run ./bench/gateway -tend /tmp/tend -rounds 5 -duration 5s -size 1024
//
// Every target runs in its own process: the backend and the Go proxies are this program
// re-executed with -role (the deployed backend is this program too, started by tend with
// GWBENCH_ROLE=backend); the peers are started from the templates in bench/peers. wrk and
// the peers come from Debian's packages (bench/run.sh installs them).
package main

import (
	"bytes"
	"context"
	_ "embed"
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
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

//go:embed latency.lua
var latencyScript []byte

func main() {
	if os.Getenv("GWBENCH_ROLE") == "backend" {
		// an instance deployed by `tend deploy`: serve on the port tend gives
		size, _ := strconv.Atoi(os.Getenv("GWBENCH_SIZE"))
		serveRole("backend", "127.0.0.1:"+os.Getenv("PORT"), "", size, "", "", false)
		return
	}
	tendBin := flag.String("tend", "", "the tend binary: measure `tend server` with the backend deployed by `tend deploy` (the reference row)")
	role := flag.String("role", "", "internal: backend, tend or bare")
	listen := flag.String("listen", "", "internal: address to serve on")
	backend := flag.String("backend-addr", "", "internal: the backend, for the proxies")
	size := flag.Int("size", 1024, "response size in bytes")
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	duration := flag.Duration("duration", 5*time.Second, "wrk duration per target and round")
	conns := flag.Int("connections", 64, "wrk connections")
	peers := flag.String("peers", "nginx,haproxy,caddy", "peers to measure (those not installed are skipped)")
	peerDir := flag.String("peer-configs", "bench/peers", "directory of the peer config templates")
	cpuprofile := flag.String("cpuprofile", "", "with -role: write a CPU profile of that target to this file until SIGINT")
	proto := flag.String("proto", protoHTTP1, "what clients speak: http1 (keep-alive), https (HTTP/1.1 over TLS, keep-alive), handshakes (a new TLS connection per request) or h2 (HTTP/2 over TLS, with h2load)")
	certFile := flag.String("cert", "", "internal: with -role, serve HTTPS with this certificate")
	keyFile := flag.String("key", "", "internal: and this key")
	greeter := flag.String("greeter", "", "with -proto grpc: the gRPC greeter server to proxy to (canary_server, built by tools/grpc/build.sh)")
	h2Backend := flag.Bool("h2-backend", false, "internal: with -role, the backend speaks HTTP/2 without TLS (gRPC)")
	flag.Parse()
	if *role != "" {
		if *cpuprofile != "" {
			stop, err := profile(*cpuprofile)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			defer stop()
		}
		serveRole(*role, *listen, *backend, *size, *certFile, *keyFile, *h2Backend)
		return
	}
	switch *proto {
	case protoHTTP1, protoHTTPS, protoHandshakes, protoH2:
	case protoGRPC:
		if *greeter == "" {
			fmt.Fprintln(os.Stderr, "bench: -proto grpc needs -greeter (bash tools/grpc/build.sh builds canary_server into ~/.cache/tend/grpc/VERSION/)")
			os.Exit(2)
		}
	default:
		fmt.Fprintf(os.Stderr, "bench: -proto %q: want http1, https, handshakes, h2 or grpc\n", *proto)
		os.Exit(2)
	}
	if err := run(*tendBin, *proto, *greeter, *size, *rounds, *duration, *conns, strings.Split(*peers, ","), *peerDir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// serveRole runs one of the Go targets in this process until killed; with certFile and
// keyFile, the proxies serve HTTPS.
func serveRole(role, listen, backend string, size int, certFile, keyFile string, h2Backend bool) {
	var h http.Handler
	switch role {
	case "backend":
		body := bytes.Repeat([]byte("x"), size)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	case "tend":
		host, port, _ := net.SplitHostPort(backend)
		p, _ := strconv.Atoi(port)
		g := gateway.New(gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry()})
		proto := ""
		if h2Backend {
			proto = "http2"
		}
		rt := gateway.Routing{Routes: []route.Route{{App: "bench", PathPrefix: "/", Protocol: proto, Splits: []route.Split{{Revision: 1, Weight: 100}}}},
			Endpoints: []store.Endpoint{{Name: "bench", Address: host, Port: p, Metadata: map[string]string{"revision": "1", "instance": "b"}}}}
		if certFile != "" {
			cert, _ := os.ReadFile(certFile)
			key, _ := os.ReadFile(keyFile)
			rt.Certs = []store.Certificate{{Host: tlsHost, CertPEM: string(cert), KeyPEM: string(key)}}
		}
		g.Apply(rt)
		serveGateway(g, listen, certFile != "")
		return
	case "bare":
		target, _ := url.Parse("http://" + backend)
		bare := httputil.NewSingleHostReverseProxy(target)
		tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
		if h2Backend {
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetUnencryptedHTTP2(true)
		}
		bare.Transport = tr
		bare.ErrorLog = nil
		h = bare
	default:
		fmt.Fprintln(os.Stderr, "unknown role", role)
		os.Exit(2)
	}
	srv := &http.Server{Addr: listen, Handler: h, ErrorLog: nil}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; _ = srv.Close() }()
	if certFile != "" {
		_ = srv.ListenAndServeTLS(certFile, keyFile)
		return
	}
	_ = srv.ListenAndServe()
}

// serveGateway serves g as tend gateway does, with its own connection loop.
func serveGateway(g *gateway.Gateway, listen string, https bool) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	srv := gateway.NewServer(g, gateway.ServerOptions{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; _ = srv.Close() }()
	if https {
		_ = srv.ServeTLS(ln, g.TLSConfig())
		return
	}
	_ = srv.Serve(ln)
}

// profile writes a CPU profile to path until the returned stop is called.
func profile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

type target struct {
	name string
	addr string
	cmd  *exec.Cmd
	// skip: started but not measured (the plain backend, in the TLS runs)
	skip bool
}

// The reference row, and the row of the gateway package alone in a bare process.
const (
	tendServer  = "tend server"
	tendPackage = "gateway package alone"
)

func run(tendBin, proto, greeter string, size, rounds int, d time.Duration, conns int, peers []string, peerDir string) error {
	tool := "wrk"
	if proto == protoH2 || proto == protoGRPC {
		tool = "h2load"
	}
	if _, err := exec.LookPath(tool); err != nil {
		return fmt.Errorf("%s not found: apt-get install %s (or run bench/run.sh)", tool, map[string]string{"wrk": "wrk", "h2load": "nghttp2-client"}[tool])
	}
	tmp, err := os.MkdirTemp("", "tend-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// as root, tend's instances run as users of their own and must enter the data dir in it
	if err := os.Chmod(tmp, 0o711); err != nil {
		return err
	}
	restore, schedNote := fairScheduling()
	defer restore()
	self, _ := os.Executable()
	backend := freeAddr()
	var tf *tlsFiles
	if proto != protoHTTP1 {
		f, err := makeCert(tmp)
		if err != nil {
			return err
		}
		tf = &f
	}
	var targets []*target
	defer func() {
		for _, t := range targets {
			if t.cmd != nil && t.cmd.Process != nil {
				// the whole group: nginx's workers outlive a killed master otherwise
				_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
				_ = t.cmd.Wait()
			}
		}
	}()
	start := func(name, addr string, cmd *exec.Cmd) error {
		logf, err := os.Create(filepath.Join(tmp, strings.ReplaceAll(name, " ", "-")+".log"))
		if err != nil {
			return err
		}
		defer logf.Close()
		// files, not pipes: Wait must not wait for processes that inherited a pipe
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		targets = append(targets, &target{name: name, addr: addr, cmd: cmd})
		if !waitListening(addr) {
			return fmt.Errorf("%s did not listen on %s", name, addr)
		}
		return nil
	}
	backendCmd := exec.Command(self, "-role", "backend", "-listen", backend, "-size", strconv.Itoa(size))
	if proto == protoGRPC {
		_, port, _ := net.SplitHostPort(backend)
		backendCmd = exec.Command(greeter)
		backendCmd.Env = append(os.Environ(), "PORT="+port)
	}
	if err := start("direct", backend, backendCmd); err != nil {
		return err
	}
	targets[0].skip = tf != nil // the backend speaks plain HTTP (1.1, or 2 for gRPC) only
	if tendBin != "" {
		app := self
		if proto == protoGRPC {
			app = greeter
		}
		srv, err := startServer(tendBin, app, tmp, size, tf, proto == protoGRPC)
		if err != nil {
			return err
		}
		defer srv.stop()
		targets = append(targets, &target{name: tendServer, addr: srv.gateway})
	}
	for _, role := range []struct{ name, role string }{{tendPackage, "tend"}, {"bare ReverseProxy", "bare"}} {
		addr := freeAddr()
		args := []string{"-role", role.role, "-listen", addr, "-backend-addr", backend}
		if tf != nil {
			args = append(args, "-cert", tf.cert, "-key", tf.key)
		}
		if proto == protoGRPC {
			args = append(args, "-h2-backend")
		}
		if err := start(role.name, addr, exec.Command(self, args...)); err != nil {
			return err
		}
	}
	for _, p := range peers {
		addr := freeAddr()
		cmd, err := peerCommand(p, peerDir, tmp, addr, backend, tf, proto == protoGRPC)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: skipping %s: %v\n", p, err)
			continue
		}
		if err := start(p, addr, cmd); err != nil {
			return err
		}
	}
	grpcRequestFile = filepath.Join(tmp, "grpc-request.bin")
	if err := os.WriteFile(grpcRequestFile, grpcRequest, 0o644); err != nil {
		return err
	}
	script := filepath.Join(tmp, "latency.lua")
	if err := os.WriteFile(script, latencyScript, 0o644); err != nil {
		return err
	}
	results := map[string][]result{}
	for r := 0; r < rounds; r++ {
		for _, t := range targets {
			if t.skip {
				continue
			}
			res, err := measure(proto, t.addr, d, conns, script)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			results[t.name] = append(results[t.name], res)
			fmt.Fprintf(os.Stderr, "round %d %-18s %8.0f req/s\n", r+1, t.name, res.rps)
		}
	}
	what := sizeText(size) + " responses"
	if proto == protoGRPC {
		what = "Greeter replies (a 16-byte message)"
	}
	fmt.Printf("%s, %s, medians of %d interleaved rounds.", what, protoText(proto, conns, d), rounds)
	if schedNote != "" {
		fmt.Printf(" %s", schedNote)
	}
	fmt.Print("\n\n")
	if proto == protoH2 || proto == protoGRPC {
		fmt.Println("| target | req/s | mean | max | – | vs direct | tend vs it |")
	} else {
		fmt.Println("| target | req/s | p50 | p99 | p99.9 | vs direct | tend vs it |")
	}
	fmt.Println("|---|---|---|---|---|---|---|")
	direct := median(results["direct"])
	ref := tendServer
	if tendBin == "" {
		ref = tendPackage
	}
	tend := median(results[ref])
	for _, t := range targets {
		if t.skip {
			continue
		}
		m := median(results[t.name])
		ratio := "–"
		if t.name != ref && t.name != "direct" {
			if proto == protoH2 || proto == protoGRPC {
				ratio = fmt.Sprintf("%.2f× req/s, %.2f× mean", tend.rps/m.rps, float64(tend.p50)/float64(m.p50))
			} else {
				ratio = fmt.Sprintf("%.2f× req/s, %.2f× p99", tend.rps/m.rps, float64(tend.p99)/float64(m.p99))
			}
		}
		vsDirect := "–" // the backend speaks plain HTTP/1.1: no direct row over TLS
		if direct.rps > 0 {
			vsDirect = fmt.Sprintf("%.2f", m.rps/direct.rps)
		}
		p999 := m.p999.String()
		if proto == protoH2 || proto == protoGRPC {
			p999 = "–"
		}
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s | %s |\n", t.name, m.rps, m.p50, m.p99, p999, vsDirect, ratio)
	}
	return nil
}

func sizeText(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d-byte", n)
}

// peerCommand fills a peer's config template (its TLS one with tf) and returns the
// command that runs it in the foreground.
func peerCommand(name, dir, tmp, listen, backend string, tf *tlsFiles, grpc bool) (*exec.Cmd, error) {
	files := map[string]string{"nginx": "nginx.conf", "haproxy": "haproxy.cfg", "caddy": "Caddyfile"}
	file, ok := files[name]
	if !ok {
		return nil, fmt.Errorf("unknown peer")
	}
	vars := []string{"{{LISTEN}}", listen, "{{BACKEND}}", backend, "{{DIR}}", tmp}
	if tf != nil {
		file = map[string]string{"nginx": "nginx-tls.conf", "haproxy": "haproxy-tls.cfg", "caddy": "Caddyfile-tls"}[name]
		if grpc {
			file = map[string]string{"nginx": "nginx-grpc.conf", "haproxy": "haproxy-grpc.cfg", "caddy": "Caddyfile-grpc"}[name]
		}
		_, port, _ := net.SplitHostPort(listen)
		vars = append(vars, "{{CERT}}", tf.cert, "{{KEY}}", tf.key, "{{BUNDLE}}", tf.bundle, "{{HOST}}", tlsHost, "{{PORT}}", port)
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("not installed (apt-get install %s)", name)
	}
	tmpl, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer(vars...).Replace(string(tmpl))
	path := filepath.Join(tmp, file)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	switch name {
	case "nginx":
		return exec.Command(bin, "-c", path, "-p", tmp, "-e", filepath.Join(tmp, "nginx-error.log")), nil
	case "haproxy":
		return exec.Command(bin, "-db", "-f", path), nil
	default:
		cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+tmp, "XDG_DATA_HOME="+tmp, "XDG_CONFIG_HOME="+tmp)
		return cmd, nil
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(addr string) bool {
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

type result struct {
	rps            float64
	p50, p99, p999 time.Duration
}

var (
	rpsRE = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	pctRE = regexp.MustCompile(`(?m)^P(50|99|999) (\d+)$`)
)

// measure runs the load tool of proto against addr once.
func measure(proto, addr string, d time.Duration, conns int, script string) (result, error) {
	_, port, _ := net.SplitHostPort(addr)
	switch proto {
	case protoHTTPS:
		return wrk("https://"+tlsHost+":"+port+"/", d, conns, script)
	case protoHandshakes:
		return wrk("https://"+tlsHost+":"+port+"/", d, conns, script, "-H", "Connection: close")
	case protoH2:
		return h2load(addr, d, conns, "/")
	case protoGRPC:
		return h2load(addr, d, conns, grpcPath, "-d", grpcRequestFile, "-H", "content-type: application/grpc", "-H", "te: trailers")
	}
	return wrk("http://"+addr+"/", d, conns, script)
}

// protoText says how the load was made, for the table's caption.
func protoText(proto string, conns int, d time.Duration) string {
	switch proto {
	case protoHTTPS:
		return fmt.Sprintf("HTTP/1.1 over TLS (ECDSA P-256, TLS 1.3), keep-alive, wrk -t2 -c%d -d%s", conns, d)
	case protoHandshakes:
		return fmt.Sprintf("a new TLS connection per request (Connection: close; a full ECDSA P-256 handshake each), wrk -t2 -c%d -d%s", conns, d)
	case protoGRPC:
		return fmt.Sprintf("gRPC unary calls (helloworld.Greeter/SayHello to a grpc-go server over h2c) over TLS, h2load -t2 -c%d -m10 -D%d (mean and max, no percentiles)", conns, int(d.Seconds()))
	case protoH2:
		return fmt.Sprintf("HTTP/2 over TLS, h2load -t2 -c%d -m10 -D%d (h2load reports mean and max, no percentiles)", conns, int(d.Seconds()))
	}
	return fmt.Sprintf("keep-alive, wrk -t2 -c%d -d%s", conns, d)
}

func wrk(url string, d time.Duration, conns int, script string, extra ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	args := append([]string{"-t2", "-c" + strconv.Itoa(conns), "-d" + d.String(), "-s", script}, extra...)
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	if bytes.Contains(out, []byte("Non-2xx")) {
		return result{}, fmt.Errorf("non-2xx answers during the run:\n%s", out)
	}
	var r result
	if m := rpsRE.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	for _, m := range pctRE.FindAllSubmatch(out, -1) {
		us, _ := strconv.Atoi(string(m[2]))
		v := time.Duration(us) * time.Microsecond
		switch string(m[1]) {
		case "50":
			r.p50 = v
		case "99":
			r.p99 = v
		default:
			r.p999 = v
		}
	}
	return r, nil
}

func median(rs []result) result {
	if len(rs) == 0 {
		return result{}
	}
	pick := func(less func(a, b result) bool) result {
		s := append([]result(nil), rs...)
		sort.Slice(s, func(i, j int) bool { return less(s[i], s[j]) })
		return s[len(s)/2]
	}
	return result{
		rps:  pick(func(a, b result) bool { return a.rps < b.rps }).rps,
		p50:  pick(func(a, b result) bool { return a.p50 < b.p50 }).p50,
		p99:  pick(func(a, b result) bool { return a.p99 < b.p99 }).p99,
		p999: pick(func(a, b result) bool { return a.p999 < b.p999 }).p999,
	}
}
