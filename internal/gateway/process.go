package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/trace"
)

// ProcessOptions configure a gateway process (`tend gateway`): the data plane, apart
// from the server so that traffic outlives it.
type ProcessOptions struct {
	// Dir holds the gateway's sockets, its last routing and its pid (DATA/gateway).
	Dir string
	// Listen is the address to serve on when no listener was inherited (ListenerEnv);
	// ListenHTTPS, when set, the address of HTTPS.
	Listen      string
	ListenHTTPS string
	AccessLog   bool
	Version     string
	Logger      *slog.Logger
	// LostAfter is how long without a word from the server before the gateway logs that
	// it serves its last routing on its own (default 10s).
	LostAfter time.Duration
	// Ready, when set, is called once the gateway serves.
	Ready func(addr string)
	// LogFile, when set, is the file the gateway's log goes to: it copy-truncates it
	// above LogMaxBytes (default 10 MiB; 3 old files kept), server or not.
	LogFile     string
	LogMaxBytes int64
	// PreviewFrom are the client addresses whose X-Tend-Preview: 1 previews (Options).
	PreviewFrom []netip.Prefix
	// Limits are the client side's timeouts and connection caps (ErrorLog is ignored;
	// zero fields: NewServer's defaults).
	Limits ServerOptions
	// Tracing is how requests are traced (their spans collected on GET /v1/spans).
	Tracing TraceOptions
}

// Settings are the `tend gateway` flags of o's limits and preview addresses, as a server
// starts a gateway with them and compares them with a running one's.
func (o ProcessOptions) Settings() []string {
	args := append(o.Limits.Flags(), o.Tracing.Flags()...)
	for _, p := range o.PreviewFrom {
		args = append(args, "--preview-from", p.String())
	}
	return args
}

// Info is what a gateway process says about itself on its control socket.
type Info struct {
	PID        int    `json:"pid"`
	Version    string `json:"version"`
	Executable ExeID  `json:"executable"`
	Listen     string `json:"listen"`
	// ListenHTTPS is the HTTPS listener's address ("": none).
	ListenHTTPS string `json:"listenHTTPS,omitempty"`
	// Settings are the flags that set its limits and preview addresses (Settings of its
	// options): a server whose own differ replaces it.
	Settings []string `json:"settings,omitempty"`
	// Routing is the version of the routing it serves (0: none yet); RoutingAge is how
	// long ago a server last confirmed it.
	Routing    int64   `json:"routing"`
	RoutingAge float64 `json:"routingAgeSeconds"`
	// Standalone is true for a gateway that bound its own address (run on its own, under
	// systemd say) rather than one a server started on its socket: a server adopts it but
	// never replaces or restarts it; its own supervisor does.
	Standalone bool `json:"standalone,omitempty"`
}

// ExeID identifies an executable file: a gateway started from another file than the
// server's (an upgrade) is replaced by the server.
type ExeID struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"modTime"`
	Inode   uint64 `json:"inode"`
}

// Executable identifies the file this process was started from.
func Executable() (ExeID, error) {
	exe, err := os.Executable()
	if err != nil {
		return ExeID{}, err
	}
	st, err := os.Stat(exe)
	if err != nil {
		return ExeID{}, err
	}
	id := ExeID{Path: exe, Size: st.Size(), ModTime: st.ModTime().UnixNano()}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		id.Inode = s.Ino
	}
	return id, nil
}

// process is a running gateway process's state beside its Gateway.
type process struct {
	o     ProcessOptions
	log   *slog.Logger
	g     *Gateway
	reg   *prometheus.Registry
	paths Paths
	exe   ExeID
	addr  string
	https string // the HTTPS listener's address ("": none)

	pushMu    sync.Mutex
	version   atomic.Int64
	heard     atomic.Int64 // unix nanoseconds of the server's last word
	loaded    chan struct{}
	loadOnce  sync.Once
	names     []string   // of the listening sockets, as ListenerEnv lists them
	listeners []*os.File // their descriptors, to hand to the server
	// standalone: bound its own address (not started by a server on its socket)
	standalone bool
}

// RunProcess runs a gateway process until ctx ends, then stops accepting, lets the
// requests in flight finish and returns.
func RunProcess(ctx context.Context, o ProcessOptions) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if o.LostAfter <= 0 {
		o.LostAfter = 10 * time.Second
	}
	log := o.Logger.With("component", "gateway")
	paths := Paths{Dir: o.Dir}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("create the gateway's dir %s: %w", o.Dir, err)
	}
	socks, err := inheritedListeners()
	if err != nil {
		return err
	}
	standalone := socks == nil
	if standalone {
		socks = map[string]socket{}
		sk, err := listen(o.Listen)
		if err != nil {
			return fmt.Errorf("gateway address %s: %w (choose another with --listen)", o.Listen, err)
		}
		socks[ListenerHTTP] = sk
		if o.ListenHTTPS != "" {
			if sk, err = listen(o.ListenHTTPS); err != nil {
				socks[ListenerHTTP].ln.Close()
				socks[ListenerHTTP].file.Close()
				return fmt.Errorf("gateway HTTPS address %s: %w (choose another with --https)", o.ListenHTTPS, err)
			}
			socks[ListenerHTTPS] = sk
		}
	}
	for _, sk := range socks {
		defer sk.ln.Close()
		defer sk.file.Close()
	}
	ln := socks[ListenerHTTP].ln
	exe, err := Executable()
	if err != nil {
		return fmt.Errorf("find the gateway's executable: %w", err)
	}
	p := &process{o: o, log: log, reg: prometheus.NewRegistry(), paths: paths, exe: exe, addr: ln.Addr().String(),
		loaded: make(chan struct{}), names: []string{ListenerHTTP}, listeners: []*os.File{socks[ListenerHTTP].file}, standalone: standalone}
	httpsPort := 0
	if sk, ok := socks[ListenerHTTPS]; ok {
		p.https = sk.ln.Addr().String()
		p.names, p.listeners = append(p.names, ListenerHTTPS), append(p.listeners, sk.file)
		httpsPort = sk.ln.Addr().(*net.TCPAddr).Port
	}
	p.g = New(Options{Logger: o.Logger, AccessLog: o.AccessLog, Registerer: p.reg, HTTPSPort: httpsPort,
		PreviewFrom: o.PreviewFrom, Tracing: &o.Tracing})
	p.reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "tend_gateway"}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tend_gateway_config_age_seconds",
			Help: "Seconds since tend server last pushed or confirmed the routing the gateway serves (grows while the server is away)."},
			func() float64 { return p.age().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tend_gateway_config_version",
			Help: "Version (store revision) of the routing the gateway serves; 0 before the first."},
			func() float64 { return float64(p.version.Load()) }))

	if r, saved, ok, err := loadRouting(paths.Routing()); err != nil {
		log.Error("cannot read the last routing; waiting for the server to push one", "err", err)
	} else if ok {
		p.g.Apply(r)
		p.version.Store(r.Version)
		if !saved.IsZero() {
			p.heard.Store(saved.UnixNano())
		}
		p.loadOnce.Do(func() { close(p.loaded) })
		log.Info("serving the last routing until the server pushes a newer one", "version", r.Version, "routes", len(r.Routes), "endpoints", len(r.Endpoints))
	}

	ctl, err := listenUnix(paths.Control())
	if err != nil {
		return err
	}
	defer ctl.close()
	fds, err := listenUnix(paths.Listeners())
	if err != nil {
		return err
	}
	defer fds.close()
	pidFile := paths.PID()
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", pidFile, err)
	}
	defer removeIfOurs(pidFile)

	ctlSrv := &http.Server{Handler: p.controlHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ctlSrv.Serve(ctl.ln) }()
	defer ctlSrv.Close()
	var handing sync.WaitGroup
	handing.Add(1)
	go func() { defer handing.Done(); p.handListeners(fds.ln) }()
	// the listening sockets' files close after the last hand-out that may use them
	defer func() { fds.close(); handing.Wait() }()
	go p.watchServer(ctx)
	if o.LogFile != "" {
		go p.rotateLog(ctx)
	}

	limits := o.Limits
	limits.ErrorLog = slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)
	gwSrv := NewServer(p.g, limits)
	// Serve only with a routing: until then connections wait in the backlog (during an
	// upgrade, the old gateway serves them).
	select {
	case <-p.loaded:
	case <-ctx.Done():
		return nil
	}
	errc := make(chan error, 2)
	go func() {
		if err := gwSrv.Serve(ln); err != nil {
			errc <- fmt.Errorf("serve %s: %w", p.addr, err)
		}
	}()
	if sk, ok := socks[ListenerHTTPS]; ok {
		go func() {
			if err := gwSrv.ServeTLS(sk.ln, p.g.TLSConfig()); err != nil {
				errc <- fmt.Errorf("serve HTTPS on %s: %w", p.https, err)
			}
		}()
	}
	log.Info("gateway serving", "addr", p.addr, "https", p.https, "pid", os.Getpid(), "version", o.Version)
	if o.Ready != nil {
		o.Ready(p.addr)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	log.Info("gateway stopping: no new connections; requests in flight finish")
	// Stop accepting first (a successor on the same socket takes the new connections),
	// then answer what still comes on the accepted ones, each with Connection: close, for
	// up to closeGrace: Shutdown closes a connection whose next request it reads without
	// answering it, which a client retries only on a kept connection and only when the
	// request is idempotent.
	gwSrv.SetClosing()
	for _, sk := range socks {
		sk.ln.Close()
	}
	for grace := time.Now().Add(closeGrace); gwSrv.Open() > 0 && time.Now().Before(grace); {
		time.Sleep(10 * time.Millisecond)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := gwSrv.Shutdown(shutdownCtx); err != nil {
		log.Warn("gateway stopped before every request finished", "err", err)
	}
	log.Info("gateway stopped")
	return nil
}

// closeGrace is how long a stopping gateway answers requests on connections it accepted
// before, asking each client to close.
const closeGrace = 2 * time.Second

func (p *process) age() time.Duration {
	h := p.heard.Load()
	if h == 0 {
		return 0
	}
	return time.Since(time.Unix(0, h))
}

// watchServer logs when the server has been silent for LostAfter, and when it is back.
func (p *process) watchServer(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lost := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		age := p.age()
		switch {
		case !lost && p.heard.Load() != 0 && age > p.o.LostAfter:
			lost = true
			p.log.Warn("no word from tend server: serving the last routing until it is back; no route is dropped meanwhile",
				"version", p.version.Load(), "silentFor", age.Round(time.Second).String())
		case lost && age <= p.o.LostAfter:
			lost = false
			p.log.Info("tend server is back", "version", p.version.Load())
		}
	}
}

// rotateLog keeps the gateway's log file (with --access-log, a line a request) bounded.
func (p *process) rotateLog(ctx context.Context) {
	limit := p.o.LogMaxBytes
	if limit <= 0 {
		limit = 10 << 20
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := logs.Rotate(p.o.LogFile, limit, 3); err != nil {
			p.log.Warn("rotate the gateway's log", "file", p.o.LogFile, "err", err)
		}
	}
}

// handListeners gives every connection on the listeners socket the gateway's listening sockets.
func (p *process) handListeners(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if err := sendListeners(c.(*net.UnixConn), p.names, p.listeners); err != nil {
			p.log.Warn("hand the listening sockets to the server", "err", err)
		}
		c.Close()
	}
}

func (p *process) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Info{PID: os.Getpid(), Version: p.o.Version, Executable: p.exe, Listen: p.addr,
			ListenHTTPS: p.https, Settings: p.o.Settings(), Routing: p.version.Load(), RoutingAge: p.age().Seconds(), Standalone: p.standalone})
	})
	mux.HandleFunc("PUT /v1/routing", func(w http.ResponseWriter, r *http.Request) {
		var rt Routing
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<20)).Decode(&rt); err != nil {
			http.Error(w, "decode routing: "+err.Error(), http.StatusBadRequest)
			return
		}
		p.pushMu.Lock()
		defer p.pushMu.Unlock()
		p.g.Apply(rt)
		p.version.Store(rt.Version)
		p.heard.Store(time.Now().UnixNano())
		p.loadOnce.Do(func() { close(p.loaded) })
		if err := SaveRouting(p.paths.Routing(), rt); err != nil {
			// it serves the new routing; only a restart without a server would miss it
			p.log.Error("cannot save the routing", "err", err)
		}
		writeJSON(w, http.StatusOK, map[string]int64{"version": rt.Version})
	})
	mux.HandleFunc("POST /v1/heartbeat", func(w http.ResponseWriter, r *http.Request) {
		v, _ := strconv.ParseInt(r.URL.Query().Get("version"), 10, 64)
		if v != p.version.Load() {
			http.Error(w, "routing version differs: push it", http.StatusConflict)
			return
		}
		p.heard.Store(time.Now().UnixNano())
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/drain", func(w http.ResponseWriter, r *http.Request) {
		if err := p.g.Drain(r.Context(), r.URL.Query().Get("addr")); err != nil {
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// the hosts waiting for on-demand certificates, long-polled by the server:
	// ?wait=25s&after=SEQ answers those wanted after SEQ as soon as there are any
	mux.HandleFunc("GET /v1/wanted", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		wait := 25 * time.Second
		if s := q.Get("wait"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 || d > 5*time.Minute {
				http.Error(w, "wait: want a duration up to 5m, like 25s", http.StatusBadRequest)
				return
			}
			wait = d
		}
		var after int64
		if s := q.Get("after"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				http.Error(w, "after: want the seq of the last wanted host seen", http.StatusBadRequest)
				return
			}
			after = n
		}
		list := p.g.Wanted(r.Context(), after, wait)
		if list == nil {
			return // the server went away
		}
		writeJSON(w, http.StatusOK, list)
	})
	// the spans of the requests finished since the last call, as an OTLP export request
	// (protobuf), with the count of those dropped since the start for want of a call
	mux.HandleFunc("GET /v1/spans", func(w http.ResponseWriter, r *http.Request) {
		spans, dropped := p.g.Spans()
		b, err := trace.Marshal(spans)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Header().Set(droppedHeader, strconv.FormatInt(dropped, 10))
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /v1/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, p.g.Snapshot())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{}))
	// profiles of the data plane: curl --unix-socket DATA/gateway/control.sock http://gateway/debug/pprof/profile?seconds=10
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// unixListener is a unix socket this process bound, removed at close if still ours.
type unixListener struct {
	ln    net.Listener
	path  string
	inode uint64
}

// listenUnix binds path, replacing whatever socket is there: a newer gateway takes the
// control socket over from the one it replaces.
func listenUnix(path string) (*unixListener, error) {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return &unixListener{ln: ln, path: path, inode: inode(path)}, nil
}

// close closes the socket and removes its file unless a newer gateway has replaced it.
func (u *unixListener) close() {
	u.ln.Close()
	if inode(u.path) == u.inode {
		os.Remove(u.path)
	}
}

func inode(path string) uint64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// removeIfOurs removes the pid file unless a newer gateway has written its own.
func removeIfOurs(path string) {
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		os.Remove(path)
	}
}
