// Package daemon assembles a tend server: store, runtime, gateway, controller and API, started and stopped in order.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tendhq/tend/internal/alerting"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/certs"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/dataplane"
	"github.com/tendhq/tend/internal/disk"
	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/store"
	"github.com/tendhq/tend/internal/ui"
)

// Config is what `tend server` takes on its command line.
type Config struct {
	DataDir     string
	APIAddr     string
	GatewayAddr string
	// HTTPSAddr is where the gateway serves HTTPS ("": no HTTPS, and specs with
	// route.tls are refused). Certificates come from the ACME CA at ACMEDirectory
	// (default Let's Encrypt), whose API is trusted with the system's roots and
	// ACMECAFile's; ACMEEmail is the account's contact.
	HTTPSAddr                            string
	ACMEDirectory, ACMEEmail, ACMECAFile string
	// GatewayLimits are the gateway's client-side timeouts and connection caps.
	GatewayLimits gateway.ServerOptions
	// PreviewFrom are the client addresses whose X-Tend-Preview: 1 previews without a token.
	PreviewFrom []netip.Prefix
	// EtcdEndpoints points at an external etcd cluster instead of the embedded one.
	EtcdEndpoints []string
	// KeepInstances leaves instances running when the server stops, for a new server to re-adopt.
	KeepInstances bool
	Version       string
	Logger        *slog.Logger
	// InstanceUser is whom local instances run as (process.ParseUser): "auto" by default.
	InstanceUser string
	// LogLevel is the gateway process's log level ("": info).
	LogLevel string
	// GatewayExecutable runs the gateway process (`EXE gateway`); default: this
	// process's executable.
	GatewayExecutable string
	// AccessLog writes one JSON line per gateway request.
	AccessLog bool
	// HandOver, when it fires, starts a new server from tend's executable as it is on
	// disk now and hands it the listeners and the data dir without refusing a connection
	// (`tend server` wires it to SIGUSR2); Run returns once the new server serves.
	HandOver <-chan struct{}
	// Retention and RetentionBytes bound the embedded metrics database (0: defaults,
	// RetentionBytes < 0: no size cap); ScrapeInterval is how often instances are scraped.
	Retention      time.Duration
	RetentionBytes int64
	ScrapeInterval time.Duration
	// PrometheusURL makes canary analysis query an external Prometheus instead of the
	// embedded one (which keeps recording and answering /prometheus).
	PrometheusURL string
	// RuleFiles are Prometheus rule files evaluated every RuleInterval besides the
	// built-in rules (unless NoBuiltinRules).
	RuleFiles      []string
	NoBuiltinRules bool
	RuleInterval   time.Duration
	// AlertmanagerConfig is the embedded Alertmanager's configuration file ("": tend's
	// default); AlertmanagerURL sends alerts to an external Alertmanager instead.
	AlertmanagerConfig string
	AlertmanagerURL    string
	// IncidentsConfig holds runbooks, escalation policies and remediation limits.
	IncidentsConfig string
	// Runtime runs the instances: "process" (default) or "kubernetes" (pods in
	// Namespace of the cluster Kubeconfig points at, images pushed to Registry).
	Runtime    string
	Kubeconfig string
	Namespace  string
	Registry   string
}

// Info says where a started server listens.
type Info struct {
	API     string // http://host:port
	Gateway string // http://host:port
	HTTPS   string // https://host:port ("": none)
	Token   string
	DataDir string
}

// Run starts a tend server and serves until ctx ends; ready is called once it serves.
func Run(ctx context.Context, cfg Config, ready func(Info)) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data dir %q: %w", cfg.DataDir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w", dir, err)
	}
	apiLn, gwInherited, readyFile, err := listeners(cfg)
	if err != nil {
		return err
	}
	defer apiLn.Close()
	unlock, err := lockDataDir(dir, readyFile != nil)
	if err != nil {
		return err
	}
	var unlockOnce sync.Once
	defer unlockOnce.Do(unlock)
	token, err := Token(dir)
	if err != nil {
		return err
	}

	st, err := store.Open(ctx, store.Options{DataDir: dir, Endpoints: cfg.EtcdEndpoints, Logger: log})
	if err != nil {
		return err
	}
	var closeStore sync.Once
	defer closeStore.Do(func() { st.Close() })

	room := disk.New(dir, log)
	_ = room.Check()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tend_data_dir_free_bytes", Help: "Free space on the data dir's filesystem at the last check."},
			func() float64 { return float64(room.Free()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tend_data_dir_full", Help: "1 while the data dir's filesystem is full and deploys are refused."},
			func() float64 {
				if room.Full() {
					return 1
				}
				return 0
			}))
	// the certificate manager, started after the plane it answers challenges through,
	// approves and orders the hosts the gateway wants on-demand certificates for
	var certMgrRef *certs.Manager     // set before certsReady closes, read after
	certsReady := make(chan struct{}) // closed once certMgrRef is set, or when Run returns
	var readyOnce sync.Once
	markCertsReady := func() { readyOnce.Do(func() { close(certsReady) }) }
	var onDemand func(host, app string) bool
	if cfg.HTTPSAddr != "" {
		onDemand = func(host, app string) bool {
			select { // a host wanted while the server starts waits for the manager
			case <-certsReady:
			case <-ctx.Done():
				return false
			}
			if m := certMgrRef; m != nil {
				return m.Want(host, app)
			}
			return false
		}
	}
	plane := dataplane.New(dataplane.Options{DataDir: dir, Addr: cfg.GatewayAddr, HTTPSAddr: cfg.HTTPSAddr, Inherited: gwInherited, Executable: cfg.GatewayExecutable,
		AccessLog: cfg.AccessLog, LogLevel: cfg.LogLevel, Limits: cfg.GatewayLimits, PreviewFrom: cfg.PreviewFrom, Store: st, Logger: log, OnDemand: onDemand})
	var stopPlane sync.Once
	defer stopPlane.Do(func() { _ = plane.Release(context.Background()) })
	defer markCertsReady() // before the plane stops: its on-demand calls wait for it
	reg.MustRegister(plane.Collector())
	rt, builder, err := openRuntime(ctx, cfg, dir, st, plane.Drain, log)
	if err != nil {
		return err
	}
	// The gateway serves only once it has the store's routes: a freshly started (or
	// handed-over) server never answers "no app is routed" for an app it has not read yet.
	if err := plane.Start(ctx); err != nil {
		return fmt.Errorf("start the gateway: %w", err)
	}
	metrics := prometheus.Gatherers{reg, plane.Gatherer()}
	var ctl *controller.Controller
	mon, err := openMonitor(cfg, dir, metrics, func() *controller.Controller { return ctl }, log)
	if err != nil {
		return err
	}
	var closeMonitor sync.Once
	defer closeMonitor.Do(func() { mon.Close() })
	analyzer, err := newAnalyzer(cfg, mon, "http://"+plane.Addr(), log)
	if err != nil {
		return err
	}
	ctl = controller.New(controller.Options{Store: st, Runtime: rt, DataDir: dir, Analyzer: analyzer, Registerer: reg, CheckRules: alerting.CheckRules,
		Builder: builder, Logger: log, HTTPS: cfg.HTTPSAddr != ""})
	certMgr, stopCerts, err := openCerts(ctx, cfg, st, plane, reg, log)
	if err != nil {
		return err
	}
	defer stopCerts()
	certMgrRef = certMgr
	markCertsReady()
	alerts, err := openAlerting(cfg, dir, "http://"+apiLn.Addr().String(), token, mon, ctl, reg, log)
	if err != nil {
		return err
	}
	defer alerts.Close() // idempotent, as in stopMonitoring
	incidents, err := openIncidents(ctx, cfg, dir, st, ctl, alerts, reg, log)
	if err != nil {
		return err
	}

	roomCtx, stopRoom := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRoom()
	ctlCtx, stopController := context.WithCancel(context.WithoutCancel(ctx))
	defer stopController()
	errc := make(chan error, 4)
	ctlDone := make(chan struct{})
	go room.Run(roomCtx, time.Second)
	monCtx, stopMonitor := context.WithCancel(context.WithoutCancel(ctx))
	monDone := make(chan struct{})
	go func() { defer close(monDone); mon.Run(monCtx) }()
	go alerts.Run(monCtx)
	incCtx, stopIncidents := context.WithCancel(context.WithoutCancel(ctx))
	incDone := make(chan struct{})
	go func() { defer close(incDone); incidents.Run(incCtx) }()
	stopMonitoring := func() {
		stopMonitor()
		<-monDone
		alerts.Close() // the rules write ALERTS to the database; the Alertmanager saves its silences
		stopIncidents()
		<-incDone // running runbooks finish before the store closes
		closeMonitor.Do(func() { mon.Close() })
		stopCerts() // no order is left half-written when the store closes
	}
	defer stopMonitoring()
	go func() { defer close(ctlDone); errc <- ctl.Run(ctlCtx) }()

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	// the dashboard's files need no token; the data its script reads does
	dash := ui.Handler()
	mux.Handle("GET /{$}", dash)
	mux.Handle("GET /ui/", dash)
	var noLogs func(string) string
	if cfg.Runtime == RuntimeKubernetes {
		noLogs = func(app string) string {
			return fmt.Sprintf("the kubernetes runtime's pods log on their nodes, not here: kubectl logs -n %s -l app.kubernetes.io/name=%s --prefix", cfg.Namespace, app)
		}
	}
	mux.Handle("/", api.Handler(api.Options{Controller: ctl, Token: token, DataDir: dir, NoLogs: noLogs, Version: cfg.Version, Logger: log, Gateway: plane.State, Room: room.Check,
		Prometheus: mon.Handler(cfg.Version), Alertmanager: alerts.Handler(), Incidents: incidents, Certs: certList(certMgr)}))
	// idle kept connections close after 2 minutes (CLI and dashboard reconnect at once)
	apiSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { errc <- serve(apiSrv, apiLn) }()

	info := Info{API: "http://" + apiLn.Addr().String(), Gateway: "http://" + plane.Addr(), Token: token, DataDir: dir}
	if a := plane.HTTPSAddr(); a != "" {
		info.HTTPS = "https://" + a
	}
	if err := os.WriteFile(filepath.Join(dir, "api"), []byte(info.API+"\n"), 0o600); err != nil {
		log.Warn("cannot record the API address in the data dir", "err", err)
	}
	pidFile := filepath.Join(dir, "server.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		log.Warn("cannot record the server's pid in the data dir", "err", err)
	}
	log.Info("tend server ready", "api", info.API, "gateway", info.Gateway, "https", info.HTTPS, "gatewayPid", plane.PID(), "data", dir, "pid", os.Getpid())
	if readyFile != nil {
		fmt.Fprintln(readyFile, "ready")
		readyFile.Close()
	}
	if ready != nil {
		ready(info)
	}

	var runErr error
	var next *successor
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case runErr = <-errc:
			log.Error("tend server component stopped", "err", runErr)
			break wait
		case <-cfg.HandOver:
			n, err := startSuccessor(apiLn, plane.Listeners())
			if err != nil {
				log.Error("hand over to a new server: not started; this one keeps serving", "err", err)
				continue
			}
			log.Info("handing over to a new server", "pid", n.cmd.Process.Pid)
			next = n
			break wait
		}
	}
	// Stop in reverse: API first (no new commands), then the controller, the runtime
	// (instances stop unless kept or handed over), the gateway (unless kept), and the store.
	timeout := 60 * time.Second
	if next != nil {
		timeout = 2 * time.Minute // the new server opens the store and adopts the instances
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = apiSrv.Shutdown(shutdownCtx) // on a hand-over, API requests wait in the listen queue for the new server
	stopMonitor()                    // no more scrapes; the database stays open for analyses until the controller stops
	stopController()
	<-ctlDone
	if next != nil {
		// instances keep running and registered; the new server needs the data dir
		if err := rt.Close(shutdownCtx, false); err != nil {
			log.Error("release instances to the new server", "err", err)
		}
		stopMonitoring()
		// the gateway serves on, with the last routing, and the new server adopts it
		stopPlane.Do(func() { _ = plane.Stop(shutdownCtx, true) })
		closeStore.Do(func() { st.Close() })
		unlockOnce.Do(unlock)
		err := next.wait(shutdownCtx)
		if err != nil {
			return fmt.Errorf("hand over: %w; instances keep running: start tend server again to adopt them", err)
		}
		log.Info("tend server handed over")
		return nil
	}
	if !cfg.KeepInstances && cfg.Runtime != RuntimeKubernetes {
		// instances leave the registry and drain through the gateway before it closes
		if err := rt.Close(shutdownCtx, true); err != nil {
			log.Error("stop instances", "err", err)
		}
		// nothing of this server stays routable: drop whatever is left on its lease at once
		if err := st.RevokeLease(shutdownCtx); err != nil {
			log.Warn("revoke the registry lease", "err", err)
		}
		stopPlane.Do(func() {
			if err := plane.Stop(shutdownCtx, false); err != nil {
				log.Error("stop the gateway", "err", err)
			}
		})
	} else {
		if err := rt.Close(shutdownCtx, false); err != nil {
			log.Error("release instances", "err", err)
		}
		// the instances keep running: so does the gateway that routes to them
		stopPlane.Do(func() { _ = plane.Stop(shutdownCtx, true) })
	}
	_ = os.Remove(filepath.Join(dir, "api"))
	_ = os.Remove(pidFile)
	log.Info("tend server stopped", "instancesKept", cfg.KeepInstances || cfg.Runtime == RuntimeKubernetes)
	return runErr
}

func serve(s *http.Server, ln net.Listener) error {
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Token returns the API token of the data dir, creating it (mode 0600) on first use.
func Token(dir string) (string, error) {
	path := filepath.Join(dir, "token")
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read API token %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create API token %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(tok + "\n"); err != nil {
		return "", fmt.Errorf("write API token %s: %w", path, err)
	}
	return tok, nil
}
