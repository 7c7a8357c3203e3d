// Package dataplane runs tend's gateway as a process of its own for the server: it starts or adopts it, restarts it on the same sockets when it dies, replaces it after an upgrade, and pushes the routing to it.
package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/store"
	"github.com/tendhq/tend/internal/trace"
)

// Options configure the data plane of a server.
type Options struct {
	// DataDir is the server's; the gateway keeps its files in DataDir/gateway.
	DataDir string
	// Addr is where the gateway serves apps (`tend server --gateway`); HTTPSAddr where
	// it serves them over HTTPS (`--https`; "": no HTTPS).
	Addr, HTTPSAddr string
	// Inherited are the gateway's listening sockets handed over by a previous server, by
	// listener name (gateway.ListenerHTTP, gateway.ListenerHTTPS); used only when no
	// gateway runs.
	Inherited map[string]*os.File
	// Executable starts gateways (`EXE gateway ...`); default: this process's executable.
	Executable string
	AccessLog  bool
	LogLevel   string
	// Limits are the gateway's client-side timeouts and connection caps (zero: defaults).
	Limits gateway.ServerOptions
	// PreviewFrom are the client addresses whose X-Tend-Preview: 1 previews without a token.
	PreviewFrom []netip.Prefix
	Store       *store.Store
	Logger      *slog.Logger
	// OnDemand, when set, is called for each host a TLS client asked the gateway for,
	// without a certificate, that a route of app with tls.onDemand claims (the
	// certificate manager's Want): see ondemand.go.
	OnDemand func(host, app string) (denied bool)
	// Tracing is how the gateway traces requests; Spans, when set, takes the spans it
	// kept, collected every second (spans.go).
	Tracing gateway.TraceOptions
	Spans   func([]trace.Span)
}

// Plane is the server's side of the gateway process.
type Plane struct {
	o      Options
	log    *slog.Logger
	client *gateway.Client
	exe    gateway.ExeID

	pushMu     sync.Mutex
	mu         sync.Mutex
	cur        *proc               // the gateway serving now
	listeners  map[string]*os.File // duplicates of its listening sockets by name, for its successor
	addr       string
	https      string               // the HTTPS listener's address ("": none)
	routing    gateway.Routing      // the store's, read before Start goes on
	raw        map[string]string    // routing's route records as the store holds them, by key
	seq        uint64               // counts changes of routing
	pushedRaw  map[string]string    // the route records of the last routing the gateway acknowledged
	pushed     chan struct{}        // closed (and replaced) at each acknowledged push
	challenges []gateway.Challenge  // ACME challenges the gateway answers, beside the store's routing
	denied     map[string]time.Time // on-demand hosts refused, until when: the gateway fails their handshakes at once
	gen        int                  // counts gateways started or adopted, so that a new one gets a push
	spawned    bool                 // the first gateway was started by this server, not adopted
	// standalone: the gateway runs on its own (under systemd, say): adopted and fed, never
	// replaced, restarted or stopped by the server
	standalone bool

	changed  chan struct{}
	first    chan struct{}
	stopping atomic.Bool
	gathered atomic.Bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New returns a data plane that has not started yet; Drain already works on a gateway
// that runs (the runtime, opened before Start, may stop instances while adopting them).
func New(o Options) *Plane {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Plane{o: o, log: o.Logger, client: gateway.NewClient(filepath.Join(o.DataDir, "gateway")),
		changed: make(chan struct{}, 1), first: make(chan struct{}), pushed: make(chan struct{})}
}

// Start reads the routing from the store, then adopts the gateway that runs on the data
// dir (replacing it when it runs another executable or listens elsewhere) or starts one,
// and returns once the gateway serves that routing. The routing follows the store until
// Stop.
func (p *Plane) Start(ctx context.Context) error {
	if p.o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find tend's executable to start the gateway: %w", err)
		}
		p.o.Executable = exe
	}
	exe, err := gateway.Executable()
	if err != nil {
		return fmt.Errorf("identify tend's executable: %w", err)
	}
	p.exe = exe
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.wg.Add(1)
	go p.follow(runCtx)
	select {
	case <-p.first:
	case <-ctx.Done():
		p.Stop(context.Background(), true)
		return ctx.Err()
	}
	if err := p.takeGateway(ctx); err != nil {
		p.Stop(context.Background(), true)
		return err
	}
	pushed, err := p.pushNow(ctx)
	if err != nil {
		p.Stop(context.Background(), true)
		return fmt.Errorf("push the routing to the gateway: %w", err)
	}
	p.wg.Add(2)
	go p.pushLoop(runCtx, pushed)
	go p.supervise(runCtx)
	if p.o.OnDemand != nil {
		p.wg.Add(1)
		go p.wantLoop(runCtx)
	}
	if p.o.Spans != nil {
		p.wg.Add(1)
		go p.spanLoop(runCtx)
	}
	return nil
}

// Addr is the address the gateway serves on.
func (p *Plane) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// PID is the gateway process's pid (0 before Start).
func (p *Plane) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.pid
}

// Drain waits until the gateway has taken hostport out of its table and has no request
// in flight to it, or ctx ends.
func (p *Plane) Drain(ctx context.Context, hostport string) error {
	for {
		err := p.client.Drain(ctx, hostport)
		if err == nil || ctx.Err() != nil {
			return err
		}
		// the gateway is being restarted: ask the next one
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// State is the gateway's live view of every app (nil when it cannot be asked).
func (p *Plane) State() []gateway.AppState {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := p.client.State(ctx)
	if err != nil {
		p.log.Warn("read the gateway's state", "err", err)
		return nil
	}
	return s
}

// Gatherer gathers the gateway process's metrics (tend_gateway_*), nothing while it
// cannot be reached (tend_gateway_up says so).
func (p *Plane) Gatherer() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := p.client.Gather()
		p.gathered.Store(err == nil)
		if err != nil {
			p.log.Debug("gather the gateway's metrics", "err", err)
			return nil, nil
		}
		return mfs, nil
	})
}

// Collector exports tend_gateway_up: whether the last gathering of the gateway's metrics worked.
func (p *Plane) Collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tend_gateway_up",
		Help: "1 when tend server reached the gateway process at its last metrics gathering."}, func() float64 {
		if p.gathered.Load() {
			return 1
		}
		return 0
	})
}

// Stop stops following the store and supervising the gateway. With keep, the gateway
// goes on serving its last routing (for instances left running, or for the next
// server); without, it is stopped gracefully (requests in flight finish).
func (p *Plane) Stop(ctx context.Context, keep bool) error {
	if !p.stopping.CompareAndSwap(false, true) {
		return nil
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	p.mu.Lock()
	cur, ls := p.cur, p.listeners
	p.listeners = nil
	keep = keep || p.standalone // its own supervisor stops it
	p.mu.Unlock()
	defer closeAll(ls)
	if keep || cur == nil {
		if cur != nil {
			p.log.Info("the gateway keeps serving its last routing", "pid", cur.pid)
		}
		return nil
	}
	return cur.stop(ctx)
}

// Release is Stop for a server that did not get to serve: a gateway it adopted keeps
// serving (the apps stay up while the server's problem is fixed); one it started stops.
func (p *Plane) Release(ctx context.Context) error {
	p.mu.Lock()
	keep := !p.spawned
	p.mu.Unlock()
	return p.Stop(ctx, keep)
}

// takeGateway adopts the gateway that runs on the data dir, or starts one.
func (p *Plane) takeGateway(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, time.Second)
	info, err := p.client.Info(ictx)
	cancel()
	if err != nil {
		return p.startFresh(ctx)
	}
	if info.Standalone {
		p.dropInherited()
		return p.adoptStandalone(info)
	}
	files, err := gateway.FetchListeners(p.client.Paths().Listeners(), 2*time.Second)
	if err != nil {
		p.log.Warn("the running gateway does not hand over its sockets; stopping it", "pid", info.PID, "err", err)
		_ = adoptProc(info.PID).stop(ctx)
		return p.startFresh(ctx)
	}
	old := adoptProc(info.PID)
	p.dropInherited()
	if !p.sameListeners(info) {
		closeAll(files)
		p.log.Info("the running gateway listens elsewhere; replacing it", "pid", info.PID, "listen", info.Listen, "https", info.ListenHTTPS,
			"want", p.o.Addr, "wantHTTPS", p.o.HTTPSAddr)
		if err := p.startFresh(ctx); err != nil {
			return err
		}
		go old.stop(context.Background())
		return nil
	}
	p.setListeners(files, info.Listen, info.ListenHTTPS)
	if info.Executable != p.exe || !slices.Equal(info.Settings, p.settings()) {
		p.log.Info("the running gateway runs another executable or other settings; replacing it on the same sockets", "pid", info.PID,
			"from", info.Executable.Path, "settings", info.Settings, "want", p.settings())
		if err := p.spawnAndSwitch(ctx); err != nil {
			return err
		}
		go old.stop(context.Background())
		return nil
	}
	p.mu.Lock()
	p.cur = old
	p.gen++
	p.spawned = false
	p.mu.Unlock()
	p.log.Info("adopted the running gateway", "pid", info.PID, "listen", info.Listen, "routing", info.Routing)
	return nil
}

// adoptStandalone feeds a gateway that runs on its own; its own supervisor restarts and
// upgrades it.
func (p *Plane) adoptStandalone(info gateway.Info) error {
	if !sameAddr(p.o.Addr, info.Listen) {
		return fmt.Errorf("a gateway run on its own (pid %d) serves this data dir on %s, not on %s: start tend server with --gateway %s, or stop that gateway first",
			info.PID, info.Listen, p.o.Addr, info.Listen)
	}
	if !p.sameListeners(info) {
		return fmt.Errorf("a gateway run on its own (pid %d) serves this data dir with HTTPS on %q, not on %q: start tend server with --https %s, or restart that gateway with --https %s",
			info.PID, info.ListenHTTPS, p.o.HTTPSAddr, info.ListenHTTPS, p.o.HTTPSAddr)
	}
	if info.Executable != p.exe {
		p.log.Warn("the gateway run on its own runs another tend executable: restart it (systemctl restart, say) to upgrade it",
			"pid", info.PID, "executable", info.Executable.Path)
	}
	if !slices.Equal(info.Settings, p.settings()) {
		p.log.Warn("the gateway run on its own has other limits or preview addresses than this server's: its own flags apply",
			"pid", info.PID, "its", info.Settings, "ours", p.settings())
	}
	p.mu.Lock()
	p.cur, p.addr, p.https, p.standalone, p.spawned = adoptProc(info.PID), info.Listen, info.ListenHTTPS, true, false
	p.gen++
	p.mu.Unlock()
	p.log.Info("adopted the gateway that runs on its own", "pid", info.PID, "listen", info.Listen, "routing", info.Routing)
	return nil
}

// awaitStandalone waits until the supervisor of a gateway run on its own has started it
// again, and adopts the new one.
func (p *Plane) awaitStandalone(ctx context.Context, dead *proc) {
	p.log.Error("the gateway run on its own ended; waiting for its supervisor to start it again (its apps are unreachable meanwhile)", "pid", dead.pid)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		ictx, cancel := context.WithTimeout(ctx, time.Second)
		info, err := p.client.Info(ictx)
		cancel()
		if err != nil || info.PID == dead.pid {
			p.client.CloseIdle()
			continue
		}
		p.mu.Lock()
		p.cur, p.addr, p.https, p.standalone = adoptProc(info.PID), info.Listen, info.ListenHTTPS, info.Standalone
		p.gen++
		p.mu.Unlock()
		p.log.Info("adopted the restarted gateway", "pid", info.PID, "standalone", info.Standalone)
		p.kick()
		return
	}
}

// settings are the gateway flags of this server's limits and preview addresses.
func (p *Plane) settings() []string {
	return gateway.ProcessOptions{Limits: p.o.Limits, PreviewFrom: p.o.PreviewFrom, Tracing: p.o.Tracing}.Settings()
}

// dropInherited closes the sockets a predecessor handed over: the running gateway holds
// (and hands out) the same ones, or serves on its own.
func (p *Plane) dropInherited() {
	closeAll(p.o.Inherited)
	p.o.Inherited = nil
}

func closeAll(files map[string]*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// sameListeners reports whether a running gateway listens where this server wants it to.
func (p *Plane) sameListeners(info gateway.Info) bool {
	if !sameAddr(p.o.Addr, info.Listen) {
		return false
	}
	if p.o.HTTPSAddr == "" || info.ListenHTTPS == "" {
		return p.o.HTTPSAddr == "" && info.ListenHTTPS == ""
	}
	return sameAddr(p.o.HTTPSAddr, info.ListenHTTPS)
}

// startFresh binds the gateway's addresses (or takes the inherited sockets) and starts a gateway on them.
func (p *Plane) startFresh(ctx context.Context) error {
	inherited := p.o.Inherited
	p.o.Inherited = nil
	files := map[string]*os.File{}
	addrs := map[string]string{}
	want := map[string]string{gateway.ListenerHTTP: p.o.Addr}
	if p.o.HTTPSAddr != "" {
		want[gateway.ListenerHTTPS] = p.o.HTTPSAddr
	}
	for name, f := range inherited {
		if _, ok := want[name]; !ok {
			f.Close() // HTTPS no longer asked for
		}
	}
	for name, addr := range want {
		f, bound, err := bindOrInherit(inherited[name], addr)
		if err != nil {
			closeAll(files)
			closeAll(inherited) // those not taken yet too (a second close does nothing)
			flag := "--gateway"
			if name == gateway.ListenerHTTPS {
				flag = "--https"
			}
			return fmt.Errorf("gateway address %s: %w (choose another with %s)", addr, err, flag)
		}
		files[name], addrs[name] = f, bound
	}
	p.setListeners(files, addrs[gateway.ListenerHTTP], addrs[gateway.ListenerHTTPS])
	return p.spawnAndSwitch(ctx)
}

// bindOrInherit returns the inherited socket f and its address, or binds addr.
func bindOrInherit(f *os.File, addr string) (*os.File, string, error) {
	if f != nil {
		ln, err := net.FileListener(f)
		if err != nil {
			f.Close()
			return nil, "", fmt.Errorf("inherited listener: %w", err)
		}
		defer ln.Close() // f keeps the socket
		return f, ln.Addr().String(), nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	defer ln.Close()
	f, err = ln.(*net.TCPListener).File()
	if err != nil {
		return nil, "", err
	}
	return f, ln.Addr().String(), nil
}

func (p *Plane) setListeners(files map[string]*os.File, addr, https string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, f := range p.listeners {
		if files[name] != f {
			f.Close()
		}
	}
	p.listeners, p.addr, p.https = files, addr, https
}

// spawnAndSwitch writes the latest routing where a new gateway reads it, starts one on
// the held socket and makes it the current one once it serves.
func (p *Plane) spawnAndSwitch(ctx context.Context) error {
	p.mu.Lock()
	r, l := p.snapshotLocked(), p.listeners
	p.mu.Unlock()
	if err := os.MkdirAll(p.client.Paths().Dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", p.client.Paths().Dir, err)
	}
	if err := gateway.SaveRouting(p.client.Paths().Routing(), r); err != nil {
		return fmt.Errorf("write the routing for the gateway: %w", err)
	}
	g, err := p.spawn(ctx, l)
	if err != nil {
		return err
	}
	p.client.CloseIdle()
	p.mu.Lock()
	if p.cur == nil {
		p.spawned = true
	}
	p.cur = g
	p.gen++
	p.mu.Unlock()
	return nil
}

// supervise starts a new gateway on the same socket whenever the current one ends.
func (p *Plane) supervise(ctx context.Context) {
	defer p.wg.Done()
	failures := 0
	for {
		p.mu.Lock()
		cur := p.cur
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-cur.exited:
		}
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		standalone := p.standalone
		p.mu.Unlock()
		if standalone {
			p.awaitStandalone(ctx, cur)
			continue
		}
		p.log.Error("the gateway process ended; starting a new one on the same sockets", "pid", cur.pid, "status", cur.status())
		// a gateway that ran a while is restarted at once; one that keeps dying soon
		// after its start (a crash loop) after a growing delay: 100 ms, doubling, to 5 s
		if time.Since(cur.started) > crashLoopWindow {
			failures = 0
		}
		for {
			if failures > 0 {
				d := min(50*time.Millisecond<<min(failures, 7), 5*time.Second)
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
			sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := p.spawnAndSwitch(sctx)
			cancel()
			if err == nil {
				break
			}
			failures++
			p.log.Error("start the gateway", "err", err, "attempt", failures)
			if ctx.Err() != nil {
				return
			}
		}
		failures++ // counts only if this one dies within the window too
		p.kick()
	}
}

func (p *Plane) kick() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// crashLoopWindow: a gateway that dies sooner after its start counts towards a crash loop.
const crashLoopWindow = 5 * time.Second

// Listeners are the server's duplicates of the gateway's listening sockets by name (nil
// before Start, and for a gateway run on its own), for a server that hands over to its
// successor.
func (p *Plane) Listeners() map[string]*os.File {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.listeners)
}

// HTTPSAddr is the address the gateway serves HTTPS on ("": none).
func (p *Plane) HTTPSAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.https
}
