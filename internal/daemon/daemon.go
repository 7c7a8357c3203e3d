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

	"github.com/tendhq/tend/internal/gateway"

	"github.com/tendhq/tend/internal/alerting"
)

// Config is what `tend server` takes on its command line.
type Config struct {
	DataDir string
	// AutoscaleInterval is how often autoscaled apps are sized (0: 15s).
	AutoscaleInterval time.Duration
	APIAddr           string
	// APITLSCert and APITLSKey are the PEM files of the certificate chain and key the API
	// serves HTTPS with, reloaded when they change ("": plain HTTP). APITLSCert
	// APITLSAuto orders the certificate for APIHost from the ACME CA instead.
	APITLSCert, APITLSKey string
	// APIHost is the DNS name clients reach the API by.
	APIHost     string
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
	// SecretsKeyFile is the key apps' secrets are sealed with ("": DATA/secrets.key,
	// made on the first secret).
	SecretsKeyFile string
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
	// Tracing is how the gateway traces requests. Spans (the gateway's and those sent to
	// the OTLP receivers) are kept in DATA/traces for TraceRetention, within
	// TraceRetentionBytes (0: trace's defaults). OTLPAddr is the loopback address of the
	// receiver without a token ("": DefaultOTLPAddr; "off": none); OTLPExport, when set,
	// is the URL every span is forwarded to as well.
	Tracing             gateway.TraceOptions
	TraceRetention      time.Duration
	TraceRetentionBytes int64
	OTLPAddr            string
	OTLPExport          string
	// StateBackups schedules the backups of tend's own state.
	StateBackups StateBackups
}

// Info says where a started server listens.
type Info struct {
	API     string // http://host:port, or https:// when the API has a certificate
	Gateway string // http://host:port
	HTTPS   string // https://host:port ("": none)
	OTLP    string // http://host:port of the OTLP receiver without a token ("": off)
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
	apiTLS, apiStored, err := apiTLSConfig(cfg, apiLn.Addr(), log)
	if err != nil {
		return err
	}
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
	s := &server{cfg: cfg, dir: dir, log: log, token: token, apiLn: apiLn, apiTLS: apiTLS, apiStored: apiStored, gwInherited: gwInherited,
		reg: prometheus.NewRegistry(), certsReady: make(chan struct{}), inbox: make(chan alerting.Notification)}
	defer s.markCertsReady() // on-demand handshakes that wait for the manager end with the server

	// the order table: started top to bottom, stopped bottom to top
	life := newLifecycle(log,
		part{name: "store", start: s.openStore, stop: s.closeStore},
		part{name: "disk guard", start: s.openRoom, run: s.runRoom},
		part{name: "traces", start: s.openTraces, run: s.serveOTLP, stop: s.closeTraces},
		part{name: "gateway process", start: s.newPlane, stop: s.stopPlane},
		part{name: "runtime", start: s.openRuntime, stop: s.closeRuntime},
		part{name: "gateway routing", start: s.startPlane},
		part{name: "scrape targets", start: s.loadTargets, run: s.runTargets},
		part{name: "monitor", start: s.openMonitor, run: s.runMonitor, stop: s.closeMonitor},
		part{name: "controller", start: s.newController, run: s.runController},
		part{name: "certificates", start: s.openCerts, run: s.runCerts},
		part{name: "alerting", start: s.openAlerting, run: s.runAlerting, stop: s.closeAlerting},
		part{name: "incidents", start: s.openIncidents, run: s.runIncidents},
		part{name: "backups", start: s.openBackups, run: s.runBackups},
		part{name: "log index", run: s.runLogIndex},
		part{name: "alert delivery", run: s.runAlertDelivery},
		part{name: "API", start: s.openAPI, run: s.serveAPI, stop: s.closeAPI},
	)
	if err := life.start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		life.stop(stopCtx, abandoned)
		return err
	}
	info := s.announce(readyFile)
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
		case runErr = <-life.failed():
			log.Error("tend server component stopped", "err", runErr)
			break wait
		case <-cfg.HandOver:
			handed := s.plane.Listeners()
			otlp := s.otlpFile()
			if otlp != nil {
				if handed == nil {
					handed = map[string]*os.File{}
				}
				handed[listenerOTLP] = otlp
			}
			n, err := startSuccessor(apiLn, handed)
			if otlp != nil {
				otlp.Close() // the successor has its own
			}
			if err != nil {
				log.Error("hand over to a new server: not started; this one keeps serving", "err", err)
				continue
			}
			log.Info("handing over to a new server", "pid", n.cmd.Process.Pid)
			next = n
			break wait
		}
	}
	how := stopAll
	timeout := 60 * time.Second
	switch {
	case next != nil:
		how, timeout = handOver, 2*time.Minute // the new server opens the store and adopts the instances
	case cfg.KeepInstances || cfg.Runtime == RuntimeKubernetes:
		how = keepRunning
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	life.stop(stopCtx, how)
	if next != nil {
		unlockOnce.Do(unlock) // the new server needs the data dir
		if err := next.wait(stopCtx); err != nil {
			return fmt.Errorf("hand over: %w; instances keep running: start tend server again to adopt them", err)
		}
		log.Info("tend server handed over")
		return nil
	}
	_ = os.Remove(filepath.Join(dir, "api"))
	_ = os.Remove(filepath.Join(dir, APIServerNameFile))
	_ = os.Remove(filepath.Join(dir, "server.pid"))
	log.Info("tend server stopped", "instancesKept", how == keepRunning)
	return runErr
}

// announce records the API address and the pid in the data dir, tells a predecessor
// that this server serves, and says where it serves.
func (s *server) announce(readyFile *os.File) Info {
	info := Info{API: s.apiURL(), Gateway: "http://" + s.plane.Addr(), OTLP: s.otlpEndpoint(), Token: s.token, DataDir: s.dir}
	if a := s.plane.HTTPSAddr(); a != "" {
		info.HTTPS = "https://" + a
	}
	if err := os.WriteFile(filepath.Join(s.dir, "api"), []byte(info.API+"\n"), 0o600); err != nil {
		s.log.Warn("cannot record the API address in the data dir", "err", err)
	}
	// the name the API's certificate is for, when DATA/api's address is not one of its
	// names: a CLI on this machine verifies the certificate for it
	if nameFile := filepath.Join(s.dir, APIServerNameFile); s.apiStored != nil {
		if err := os.WriteFile(nameFile, []byte(s.apiStored.host+"\n"), 0o600); err != nil {
			s.log.Warn("cannot record the API's name in the data dir", "err", err)
		}
	} else {
		_ = os.Remove(nameFile)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "server.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		s.log.Warn("cannot record the server's pid in the data dir", "err", err)
	}
	s.log.Info("tend server ready", "api", info.API, "gateway", info.Gateway, "https", info.HTTPS, "gatewayPid", s.plane.PID(), "data", s.dir, "pid", os.Getpid())
	if readyFile != nil {
		fmt.Fprintln(readyFile, "ready")
		readyFile.Close()
	}
	return info
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
