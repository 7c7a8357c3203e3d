package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tendhq/tend/internal/alerting"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/backup"
	"github.com/tendhq/tend/internal/certs"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/dataplane"
	"github.com/tendhq/tend/internal/disk"
	"github.com/tendhq/tend/internal/incident"
	"github.com/tendhq/tend/internal/monitor"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/secret"
	"github.com/tendhq/tend/internal/store"
	"github.com/tendhq/tend/internal/token"
	"github.com/tendhq/tend/internal/trace"
	"github.com/tendhq/tend/internal/ui"
	"github.com/tendhq/tend/internal/upload"
)

// server holds the parts of one tend server; each method below is a start, run or
// stop of a part in Run's order table.
type server struct {
	cfg         Config
	dir         string
	log         *slog.Logger
	token       string
	apiLn       net.Listener   // plain TCP, for a hand-over
	apiTLS      *tls.Config    // nil: the API serves plain HTTP
	apiStored   *storedAPICert // the API's certificate from the store (--api-tls-cert auto), or nil
	gwInherited map[string]*os.File
	reg         *prometheus.Registry

	st        *store.Store
	secrets   *secret.Vault
	tokens    *token.Keeper
	uploads   *upload.Store // what clients send to deploy from
	room      *disk.Guard
	plane     *dataplane.Plane
	rt        runtime.Runtime
	builder   controller.Builder
	mon       *monitor.Monitor
	targets   *targets
	ctl       *controller.Controller
	certMgr   *certs.Manager
	alerts    *alerting.Alerting
	incidents *incident.Manager
	backups   *backup.Scheduler
	// inbox carries the embedded Alertmanager's notifications to the incident manager
	inbox  chan alerting.Notification
	apiSrv *http.Server

	spans    *trace.Store    // the gateway's spans and those instances send
	exporter *trace.Exporter // --otlp-export, or nil
	otlpLn   *net.TCPListener
	otlpSrv  *http.Server

	// certsReady closes once certMgr is set (or the server stops): the gateway's
	// on-demand approvals, which may come while the server starts, wait for it
	certsReady chan struct{}
	readyOnce  sync.Once
}

func (s *server) markCertsReady() { s.readyOnce.Do(func() { close(s.certsReady) }) }

func (s *server) openStore(ctx context.Context) (err error) {
	s.st, err = store.Open(ctx, store.Options{DataDir: s.dir, Endpoints: s.cfg.EtcdEndpoints, Logger: s.log})
	if err != nil {
		return err
	}
	s.secrets = secret.Open(ctx, s.st, s.dir, s.cfg.SecretsKeyFile)
	s.tokens = token.Open(s.st, s.log)
	switch {
	case s.secrets.Err() != nil:
		// what runs keeps running; what needs a secret's value says why
		s.log.Error("the secrets key does not load: instances that use secrets will not start, and tend secret set is refused", "err", s.secrets.Err())
	case s.secrets.Keys().Unfinished():
		s.log.Warn("a secrets key rotation did not finish: run tend secret rotate-key again", "next", s.secrets.Keys().Path()+".next")
	}
	return nil
}

// closeStore writes the audit log's last entries, then closes the store.
func (s *server) closeStore(context.Context, ending) error {
	s.tokens.Close()
	return s.st.Close()
}

// openRoom starts watching the data dir's free space, exported as metrics.
func (s *server) openRoom(context.Context) error {
	s.room = disk.New(s.dir, s.log)
	_ = s.room.Check()
	s.tokens.SetRoom(s.room.Check) // a statfs before each audit write: the guard's own check lags by up to its interval
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tend_data_dir_free_bytes", Help: "Free space on the data dir's filesystem at the last check."},
			func() float64 { return float64(s.room.Free()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tend_data_dir_full", Help: "1 while the data dir's filesystem is full and deploys are refused."},
			func() float64 {
				if s.room.Full() {
					return 1
				}
				return 0
			}))
	return nil
}

func (s *server) runRoom(ctx context.Context) error {
	s.room.Run(ctx, time.Second)
	return nil
}

// newPlane prepares the gateway process's supervisor; it starts serving at
// startPlane, after the runtime, whose drains it already serves.
func (s *server) newPlane(ctx context.Context) error {
	var onDemand func(host, app string) bool
	if s.cfg.HTTPSAddr != "" {
		onDemand = func(host, app string) bool {
			select { // a host wanted while the server starts waits for the manager
			case <-s.certsReady:
			case <-ctx.Done():
				return false
			}
			if m := s.certMgr; m != nil {
				return m.Want(host, app)
			}
			return false
		}
	}
	s.plane = dataplane.New(dataplane.Options{DataDir: s.dir, Addr: s.cfg.GatewayAddr, HTTPSAddr: s.cfg.HTTPSAddr, Inherited: s.gwInherited,
		Executable: s.cfg.GatewayExecutable, AccessLog: s.cfg.AccessLog, LogLevel: s.cfg.LogLevel, Limits: s.cfg.GatewayLimits,
		PreviewFrom: s.cfg.PreviewFrom, Store: s.st, Logger: s.log, OnDemand: onDemand,
		Tracing: s.cfg.Tracing, Spans: s.gatewaySpans})
	s.reg.MustRegister(s.plane.Collector())
	return nil
}

// stopPlane stops the gateway after the instances drained through it, or leaves it
// serving its last routing for instances that keep running.
func (s *server) stopPlane(ctx context.Context, how ending) error {
	s.markCertsReady() // on-demand approvals in flight end before the plane stops
	switch how {
	case abandoned: // a start that failed keeps only the gateway it adopted
		return s.plane.Release(ctx)
	case stopAll:
		return s.plane.Stop(ctx, false)
	}
	return s.plane.Stop(ctx, true)
}

func (s *server) openRuntime(ctx context.Context) (err error) {
	s.rt, s.builder, err = openRuntime(ctx, s.cfg, s.dir, s.st, s.plane.Drain, s.secrets.Values, s.instanceEnv(), s.log)
	return err
}

// closeRuntime stops the instances (they leave the registry and drain through the
// gateway, which still runs), or releases them to the next server.
func (s *server) closeRuntime(ctx context.Context, how ending) error {
	if how != stopAll {
		if err := s.rt.Close(ctx, false); err != nil {
			return fmt.Errorf("release instances: %w", err)
		}
		return nil
	}
	if err := s.rt.Close(ctx, true); err != nil {
		return fmt.Errorf("stop instances: %w", err)
	}
	// nothing of this server stays routable: drop whatever is left on its lease at once
	if err := s.st.RevokeLease(ctx); err != nil {
		s.log.Warn("revoke the registry lease", "err", err)
	}
	return nil
}

// startPlane makes the gateway serve, once it has the store's routes: a freshly
// started (or handed-over) server never answers "no app is routed" for an app it has
// not read yet.
func (s *server) startPlane(ctx context.Context) error {
	if err := s.plane.Start(ctx); err != nil {
		return fmt.Errorf("start the gateway: %w", err)
	}
	return nil
}

func (s *server) gatherers() prometheus.Gatherers {
	return prometheus.Gatherers{s.reg, s.plane.Gatherer()}
}

// loadTargets reads what the monitor scrapes (the runtime's instances, labelled from
// the store), which runTargets follows.
func (s *server) loadTargets(ctx context.Context) error {
	s.targets = newTargets(s.rt, s.st, s.log)
	return s.targets.Load(ctx)
}

// openMonitor opens the embedded metrics database in DATA/metrics; it scrapes what
// the targets list.
func (s *server) openMonitor(context.Context) (err error) {
	s.mon, err = monitor.Open(monitor.Options{Dir: filepath.Join(s.dir, "metrics"), Retention: s.cfg.Retention, MaxBytes: s.cfg.RetentionBytes,
		Interval: s.cfg.ScrapeInterval, Self: s.gatherers(), Logger: s.log, Targets: s.targets.List})
	return err
}

func (s *server) runMonitor(ctx context.Context) error {
	s.mon.Run(ctx)
	return nil
}

func (s *server) closeMonitor(context.Context, ending) error { return s.mon.Close() }

func (s *server) runTargets(ctx context.Context) error { return s.targets.Run(ctx) }

func (s *server) newController(context.Context) error {
	analyzer, err := newAnalyzer(s.cfg, s.mon, "http://"+s.plane.Addr(), s.log)
	if err != nil {
		return err
	}
	s.uploads = &upload.Store{Dir: filepath.Join(s.dir, "uploads")}
	s.ctl = controller.New(controller.Options{Store: s.st, Runtime: s.rt, DataDir: s.dir, Analyzer: analyzer, Registerer: s.reg,
		CheckRules: alerting.CheckRules, Builder: s.builder, Logger: s.log, HTTPS: s.cfg.HTTPSAddr != "", Secrets: s.secrets, Uploads: s.uploads,
		Routed: s.plane.Routed, Metrics: analyzer.Querier, AutoscaleInterval: s.cfg.AutoscaleInterval,
		CheckQuery: monitor.CheckQuery})
	return nil
}

func (s *server) runController(ctx context.Context) error { return s.ctl.Run(ctx) }

// openCerts starts the certificate manager when the gateway serves HTTPS or the API
// has its certificate from the CA.
func (s *server) openCerts(context.Context) (err error) {
	s.certMgr, err = openCerts(s.cfg, s.st, s.plane, s.reg, s.log)
	if err != nil {
		return err
	}
	if s.apiStored != nil {
		s.apiStored.st.Store(s.st)
	}
	s.markCertsReady()
	return nil
}

// runCerts orders and renews certificates; it returns once no order is left
// half-written, before the store closes.
func (s *server) runCerts(ctx context.Context) error {
	if s.certMgr != nil {
		s.certMgr.Run(ctx)
	}
	return nil
}

func (s *server) openAlerting(context.Context) (err error) {
	s.alerts, err = openAlerting(s.cfg, s.dir, s.apiURL(), s.inbox, s.mon, s.ctl, s.reg, s.log)
	if err == nil {
		s.mon.SetRuleGroups(s.alerts.RuleGroups)
	}
	return err
}

func (s *server) runAlerting(ctx context.Context) error {
	s.alerts.Run(ctx)
	return nil
}

// closeAlerting writes the last ALERTS to the metrics database and the Alertmanager's
// silences to disk.
func (s *server) closeAlerting(context.Context, ending) error {
	s.alerts.Close()
	return nil
}

func (s *server) openIncidents(ctx context.Context) (err error) {
	s.incidents, err = openIncidents(ctx, s.cfg, s.dir, s.st, s.ctl, s.alerts, s.secrets.Mask, s.reg, s.log)
	return err
}

// runIncidents returns once the runbooks running finished, before the store closes.
func (s *server) runIncidents(ctx context.Context) error {
	s.incidents.Run(ctx)
	return nil
}

// runAlertDelivery hands the embedded Alertmanager's alert groups to the incident
// manager; it stops before the manager does.
func (s *server) runAlertDelivery(ctx context.Context) error {
	deliverAlerts(ctx, s.inbox, s.incidents, s.log.With("component", "incidents"))
	return nil
}

// openAPI builds the API, the dashboard and tend's own /metrics on the API listener.
func (s *server) openAPI(context.Context) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.gatherers(), promhttp.HandlerOpts{}))
	// the dashboard's files need no token; the data its script reads does
	dash := ui.Handler()
	mux.Handle("GET /{$}", dash)
	mux.Handle("GET /ui/", dash)
	podLogs, _ := s.rt.(api.PodLogs) // the kubernetes runtime's pods, through the API server
	mux.Handle("/", api.Handler(api.Options{Controller: s.ctl, Token: s.token, DataDir: s.dir, PodLogs: podLogs, Version: s.cfg.Version, Logger: s.log,
		Gateway: s.plane.State, Room: s.room.Check, Prometheus: s.mon.Handler(s.cfg.Version), Alertmanager: s.alerts.Handler(),
		Incidents: s.incidents, Certs: certList(s.certMgr), Secrets: s.secrets, Uploads: s.uploads, Tokens: s.tokens, Target: s.target(),
		Traces: s.spans, OTLP: s.otlpReceiver(), Backups: backupsAPI{s}}))
	// idle kept connections close after 2 minutes (CLI and dashboard reconnect at once)
	s.apiSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.With("component", "api").Handler(), slog.LevelInfo)} // TLS handshake failures, among others
	return nil
}

// target is the platform of the executables this server runs: its own, or Linux on
// its architecture for Kubernetes (the builder's GOOS=linux).
func (s *server) target() v1.Target {
	if s.cfg.Runtime == RuntimeKubernetes {
		return v1.Target{OS: "linux", Arch: goruntime.GOARCH}
	}
	return v1.Target{OS: goruntime.GOOS, Arch: goruntime.GOARCH}
}

// serveAPI serves until the server stops (closeAPI then lets requests finish).
func (s *server) serveAPI(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- serve(s.apiSrv, s.apiListener()) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return nil
	}
}

// closeAPI takes no new commands; on a hand-over, API requests wait in the listening
// socket's queue for the new server.
func (s *server) closeAPI(ctx context.Context, _ ending) error { return s.apiSrv.Shutdown(ctx) }
