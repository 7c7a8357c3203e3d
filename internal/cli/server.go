package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/alerting"
	"github.com/tendhq/tend/internal/certs"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/daemon"
	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/monitor"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/trace"
)

// serverFlags are shared by `tend server` and `tend up`.
type serverFlags struct {
	api, gateway, etcd string
	apiTLSCert         string
	apiTLSKey          string
	https              string
	acmeDirectory      string
	acmeEmail          string
	acmeCAFile         string
	gatewayLimits      gateway.ServerOptions
	tracing            gateway.TraceOptions
	traceRetention     time.Duration
	traceRetentionSize string
	otlp, otlpExport   string
	previewFrom        []string
	keepInstances      bool
	instanceUser       string
	secretsKeyFile     string
	stateBackups       daemon.StateBackups
	accessLog          bool
	logLevel           string
	retention          time.Duration
	retentionSize      string
	scrapeInterval     time.Duration
	autoscaleInterval  time.Duration
	prometheusURL      string
	rules              []string
	builtinRules       bool
	ruleInterval       time.Duration
	amConfig, amURL    string
	apiHost            string
	incidents          string
	runtime            string
	kubeconfig         string
	namespace          string
	registry           string
}

func (f *serverFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.api, "api", "127.0.0.1:7070", "address of the HTTP API")
	cmd.Flags().StringVar(&f.apiTLSCert, "api-tls-cert", "", "PEM certificate chain (leaf first) the API serves HTTPS with, reloaded when the file changes; needs --api-tls-key; or auto: a certificate for --api-host from the ACME CA")
	cmd.Flags().StringVar(&f.apiHost, "api-host", "", "the DNS name clients reach the API by (like tend.example.com): with --api-tls-cert auto, the name its certificate is ordered for")
	cmd.Flags().StringVar(&f.apiTLSKey, "api-tls-key", "", "PEM private key of --api-tls-cert")
	cmd.Flags().StringVar(&f.gateway, "gateway", "127.0.0.1:8080", "address the gateway serves apps on")
	cmd.Flags().StringVar(&f.https, "https", "", "address the gateway serves apps over HTTPS on (like :443); apps ask for it with route.tls in tend.yaml")
	cmd.Flags().StringVar(&f.acmeDirectory, "acme-directory", certs.LetsEncrypt, "ACME directory URL certificates for route.tls: auto come from (Let's Encrypt's staging, a private CA, ...)")
	cmd.Flags().StringVar(&f.acmeEmail, "acme-email", "", "contact address of tend's ACME account (the CA's expiry warnings go there)")
	cmd.Flags().StringVar(&f.acmeCAFile, "acme-ca-file", "", "PEM file of roots to trust for the ACME server's own HTTPS, beside the system's (for a private ACME server)")
	addLimitFlags(cmd, &f.gatewayLimits, "gateway-")
	addTraceFlags(cmd, &f.tracing)
	cmd.Flags().DurationVar(&f.traceRetention, "trace-retention", trace.DefaultRetention, "how long spans are kept (the gateway's and those apps send)")
	cmd.Flags().StringVar(&f.traceRetentionSize, "trace-retention-size", "1Gi", "size cap of the kept spans (the oldest go first)")
	cmd.Flags().StringVar(&f.otlp, "otlp", "", "loopback address of the OTLP/HTTP receiver instances send spans to without a token (POST /v1/traces; off: none); default "+daemon.DefaultOTLPAddr+", or any free loopback port when that is taken (instances are told which). The API takes spans at /v1/traces with a token too")
	cmd.Flags().StringVar(&f.otlpExport, "otlp-export", "", "also forward every span to this OTLP/HTTP endpoint (Jaeger, Tempo, a collector), like http://127.0.0.1:4318")
	cmd.Flags().StringArrayVar(&f.previewFrom, "preview-from", nil, "client addresses (CIDR, like 10.1.0.0/16) whose X-Tend-Preview: 1 reaches a revision not yet promoted; anyone else needs the rollout's preview token (tend status shows it); repeatable")
	cmd.Flags().StringVar(&f.etcd, "etcd-endpoints", "", "comma-separated external etcd endpoints (default: embedded etcd in the data dir)")
	cmd.Flags().StringVar(&f.secretsKeyFile, "secrets-key-file", "", "the key apps' secrets are sealed with (tend-secrets-key-1:BASE64, mode 0600); default DATA/secrets.key, made on the first tend secret set")
	cmd.Flags().StringVar(&f.instanceUser, "instance-user", "auto", "whom instances run as: auto (a user of its own for each app when tend runs as root, else tend's user), app, a user name, or UID[:GID]")
	cmd.Flags().BoolVar(&f.keepInstances, "keep-instances", false, "leave instances running when the server stops; the next server on this data dir re-adopts them")
	cmd.Flags().StringVar(&f.stateBackups.Schedule, "state-backup-schedule", "@daily", "when tend's own state is backed up: a cron schedule (\"0 3 * * *\", @daily, @every 6h), or off")
	cmd.Flags().StringVar(&f.stateBackups.Dir, "state-backup-dir", "", "where the backups of tend's state are kept (default DATA/backups: copy them off the machine, or point this at another disk)")
	cmd.Flags().IntVar(&f.stateBackups.Keep, "state-backup-keep", 7, "how many backups of tend's state are kept")
	cmd.Flags().BoolVar(&f.accessLog, "access-log", false, "log every gateway request as a JSON line (in DATA/gateway/gateway.log)")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "server log level: debug, info, warn or error")
	cmd.Flags().DurationVar(&f.retention, "retention", monitor.DefaultRetention, "how long the embedded metrics database keeps samples")
	cmd.Flags().StringVar(&f.retentionSize, "retention-size", "1Gi", "size cap of the embedded metrics database (oldest blocks go first); 0 for none")
	cmd.Flags().DurationVar(&f.scrapeInterval, "scrape-interval", monitor.DefaultInterval, "how often instances' metrics endpoints are scraped")
	cmd.Flags().DurationVar(&f.autoscaleInterval, "autoscale-interval", controller.DefaultAutoscaleInterval, "how often apps with autoscale: are sized from their metrics (the HPA's sync period)")
	cmd.Flags().StringVar(&f.prometheusURL, "prometheus-url", "", "query this Prometheus for canary analysis instead of the embedded one (e.g. http://127.0.0.1:9090)")
	cmd.Flags().StringArrayVar(&f.rules, "rules", nil, "Prometheus alerting rule file, evaluated on the embedded metrics (repeatable)")
	cmd.Flags().BoolVar(&f.builtinRules, "builtin-rules", true, "evaluate tend's built-in alerts for every app (HighErrorRate, HighLatency, InstanceDown, CrashLooping, HighMemoryUsage, GatewayDown, CertificateExpiresSoon, CertificateRenewalFailing, RolloutFailed, BackupFailed, BackupMissing, BackupVerifyFailed)")
	cmd.Flags().DurationVar(&f.ruleInterval, "rule-interval", alerting.DefaultInterval, "how often alerting rules are evaluated")
	cmd.Flags().StringVar(&f.amConfig, "alertmanager-config", "", "Alertmanager configuration file for the embedded Alertmanager (default: every alert group becomes an incident, nothing is sent elsewhere)")
	cmd.Flags().StringVar(&f.amURL, "alertmanager-url", "", "send alerts to this Alertmanager instead of the embedded one (e.g. http://127.0.0.1:9093)")
	cmd.Flags().StringVar(&f.incidents, "incidents", "", "incident config: runbooks, escalation policies and remediation limits (YAML)")
	cmd.Flags().StringVar(&f.runtime, "runtime", "process", "what runs instances: process (local processes) or kubernetes (pods, one Deployment per revision)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster for --runtime kubernetes (default $KUBECONFIG, ~/.kube/config, or in-cluster)")
	cmd.Flags().StringVar(&f.namespace, "namespace", "default", "namespace apps run in with --runtime kubernetes")
	cmd.Flags().StringVar(&f.registry, "registry", "", "with --runtime kubernetes: repository tend pushes app images to and the cluster pulls from (e.g. registry.example.com/team)")
}

func (f *serverFlags) config(dataDir string) (daemon.Config, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return daemon.Config{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	size, err := spec.ParseBytes(f.retentionSize)
	if err != nil && f.retentionSize != "0" {
		return daemon.Config{}, fmt.Errorf("--retention-size %q: want a size like 512Mi or 2Gi, or 0 for none", f.retentionSize)
	}
	if size == 0 {
		size = -1 // no cap
	}
	prefixes, err := parsePrefixes(f.previewFrom)
	if err != nil {
		return daemon.Config{}, err
	}
	if err := checkTracing(f.tracing); err != nil {
		return daemon.Config{}, err
	}
	traceSize, err := spec.ParseBytes(f.traceRetentionSize)
	if err != nil || traceSize <= 0 {
		return daemon.Config{}, fmt.Errorf("--trace-retention-size %q: want a size like 512Mi or 2Gi", f.traceRetentionSize)
	}
	if f.autoscaleInterval < time.Second {
		return daemon.Config{}, fmt.Errorf("--autoscale-interval %s: want a duration of at least 1s, like 15s", f.autoscaleInterval)
	}
	if f.traceRetention <= 0 {
		return daemon.Config{}, fmt.Errorf("--trace-retention %s: want a duration like 72h", f.traceRetention)
	}
	export, err := otlpExportURL(f.otlpExport)
	if err != nil {
		return daemon.Config{}, err
	}
	cfg := daemon.Config{DataDir: dataDir, APIAddr: f.api, GatewayAddr: f.gateway, HTTPSAddr: f.https,
		ACMEDirectory: f.acmeDirectory, ACMEEmail: f.acmeEmail, ACMECAFile: f.acmeCAFile, GatewayLimits: f.gatewayLimits, PreviewFrom: prefixes, KeepInstances: f.keepInstances, InstanceUser: f.instanceUser, SecretsKeyFile: f.secretsKeyFile,
		Version: version(), AccessLog: f.accessLog, LogLevel: f.logLevel,
		Logger:    slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})),
		Retention: f.retention, RetentionBytes: size, ScrapeInterval: f.scrapeInterval, AutoscaleInterval: f.autoscaleInterval, PrometheusURL: f.prometheusURL,
		Tracing: f.tracing, TraceRetention: f.traceRetention, TraceRetentionBytes: traceSize, OTLPAddr: f.otlp, OTLPExport: export,
		StateBackups: f.stateBackups}
	if f.etcd != "" {
		cfg.EtcdEndpoints = strings.Split(f.etcd, ",")
	}
	// absolute, so that a server started by a hand-over from another directory finds them
	for _, r := range f.rules {
		abs, err := filepath.Abs(r)
		if err != nil {
			return daemon.Config{}, fmt.Errorf("--rules %q: %w", r, err)
		}
		cfg.RuleFiles = append(cfg.RuleFiles, abs)
	}
	for _, p := range []struct {
		in  string
		out *string
	}{{f.amConfig, &cfg.AlertmanagerConfig}, {f.incidents, &cfg.IncidentsConfig}, {f.stateBackups.Dir, &cfg.StateBackups.Dir}, {f.apiTLSCert, &cfg.APITLSCert}, {f.apiTLSKey, &cfg.APITLSKey}} {
		if p.in == daemon.APITLSAuto && p.out == &cfg.APITLSCert {
			*p.out = p.in
		} else if p.in != "" {
			abs, err := filepath.Abs(p.in)
			if err != nil {
				return daemon.Config{}, err
			}
			*p.out = abs
		}
	}
	cfg.APIHost = f.apiHost
	cfg.NoBuiltinRules, cfg.RuleInterval, cfg.AlertmanagerURL = !f.builtinRules, f.ruleInterval, f.amURL
	cfg.Runtime, cfg.Namespace, cfg.Registry = f.runtime, f.namespace, f.registry
	if f.kubeconfig != "" {
		if cfg.Kubeconfig, err = filepath.Abs(f.kubeconfig); err != nil {
			return daemon.Config{}, err
		}
	}
	return cfg, nil
}

// otlpExportURL is --otlp-export as the URL spans are posted to: an endpoint's base
// (http://host:4318) gets the OTLP path /v1/traces.
func otlpExportURL(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--otlp-export %q: want an OTLP/HTTP endpoint like http://127.0.0.1:4318 (or its full .../v1/traces)", v)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

func newServerCmd(g *globals) *cobra.Command {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the tend server: API, runtime, embedded etcd, and the gateway process",
		Long: `Run the tend server in the foreground. It keeps its state in the data dir (--data):
an embedded etcd, build artifacts, instance logs and the API token (DATA/token,
created on first start, mode 0600).

The gateway runs as a process of its own (tend gateway, see its --help), started by the
server on --gateway and fed the routing over DATA/gateway/control.sock; it keeps serving
when the server is down, and the server restarts it on the same socket if it dies.

On SIGINT or SIGTERM it stops its instances gracefully (drain, SIGTERM, grace period)
and then the gateway, unless --keep-instances is set: then both keep running. If the
server crashes, instances and gateway keep running and serving, and the next server on
the same data dir adopts them.

When tend runs as root, each app's instances run as a user of their own (a uid from
1500000000 up, kept in the store; --instance-user changes it): they can write their
working dir and read nothing else of the data dir, so they cannot read DATA/token or
another app's files, nor signal tend or each other. The data dir and its parents must
then let others enter them (DATA becomes 0711; /var/lib/tend, the default data dir of
root, does); if they do not, auto runs instances as tend's user with a warning, and an
explicit --instance-user refuses to start. As any other user, instances run as tend's
user and can read what it can.

To restart or upgrade without refusing a connection, replace the tend binary on disk and
send SIGUSR2 to the server (its pid is in DATA/server.pid). It starts the new binary with
the same arguments, hands it its API socket, releases the data dir, and exits once the
new server serves; the new server adopts the gateway and replaces it with one of the new
binary on the same socket. If the new binary does not run, the old server keeps serving
and says why.

With --runtime kubernetes, instances are pods in --namespace of the cluster --kubeconfig
names: one Deployment per revision, applied server-side, scaled by the same rollouts;
deploys build a static linux executable and push its image to --registry. The gateway
routes to the pods' IPs, so it must run where it reaches them. Pods keep running when the
server stops; the next server finds them.

With --https, the gateway serves HTTPS too: an app whose tend.yaml says route.tls: auto
gets certificates for its route.hosts from the ACME CA (--acme-directory, Let's Encrypt by
default; HTTP-01 on the --gateway listener, which must be reachable on port 80, and
TLS-ALPN-01 on --https), renewed two thirds into their lifetime and kept in the store;
route.tls: {cert: FILE, key: FILE} serves your own, reloaded when the files change. Plain
HTTP to such an app is redirected to HTTPS (route.tls.redirect: false keeps it). HTTP/2
is offered by ALPN. tend certs lists the certificates. With route.tls.onDemand: URL (and
auto), hosts the route claims without listing them (*.example.com, or any host when it
lists none) get a certificate at their first TLS handshake, which waits for it, once
GET URL?host=HOST answers 2xx.

The API (--api) serves plain HTTP, fine on 127.0.0.1. Bound to another address (to
deploy from a laptop or a CI runner), it needs a certificate, or the API token crosses
the network in clear text (the server warns at start): --api-tls-cert FILE and
--api-tls-key FILE make it serve HTTPS only (TLS 1.2 or later), with the certificate
reloaded when the files change (new files that do not load leave the previous one in
service, and the server logs why). DATA/api then records an https:// URL. Clients verify
the certificate against the system's roots, or with --ca-file for a private CA (see
tend context --help).

--api-tls-cert auto --api-host NAME orders the API's certificate for NAME from the ACME
CA, as for a route with tls: auto (the CA reaches the gateway on port 80 for HTTP-01),
renews it and keeps it in the store; the API refuses handshakes until it is issued
(tend certs shows its state, app "(server)"). DATA/api-server-name records NAME, so a
CLI on this machine that reaches the API by DATA/api's address verifies the
certificate for NAME (elsewhere: --tls-server-name, or an API URL with NAME).`,
		Example: `  tend server --data /var/lib/tend --gateway 0.0.0.0:80
  tend server --api 0.0.0.0:7070 --api-tls-cert /etc/tend/api.crt --api-tls-key /etc/tend/api.key
  tend server --gateway :80 --https :443 --acme-email ops@example.com
  tend server --gateway :80 --api 0.0.0.0:7443 --api-tls-cert auto --api-host tend.example.com
  tend server --etcd-endpoints http://10.0.0.5:2379
  tend server --runtime kubernetes --kubeconfig ~/.kube/config --namespace prod --registry registry.example.com/team
  kill -USR2 $(cat /var/lib/tend/server.pid)     # hand over to the binary now on disk`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(g.dataDir)
			if err != nil {
				return &exitCodeError{code: exitInvalid, err: err}
			}
			cfg.HandOver = handOverSignal(cmd.Context())
			err = daemon.Run(cmd.Context(), cfg, func(i daemon.Info) {
				if i.HTTPS != "" {
					cmd.PrintErrf("tend server: API %s, gateway %s and %s, data %s\n", i.API, i.Gateway, i.HTTPS, i.DataDir)
				} else {
					cmd.PrintErrf("tend server: API %s, gateway %s, data %s\n", i.API, i.Gateway, i.DataDir)
				}
				cmd.PrintErrf("dashboard: %s/ (`tend dashboard` prints a link with the token)\n", i.API)
			})
			var bad *daemon.ConfigError
			if errors.As(err, &bad) {
				return &exitCodeError{code: exitInvalid, err: err}
			}
			return err
		},
	}
	f.add(cmd)
	cmd.Flags().Lookup("api").Usage = "address of the API: HTTP, or HTTPS with --api-tls-cert (clients: set TEND_API, or tend context add)"
	return cmd
}

// handOverSignal turns SIGUSR2 into hand-over requests until ctx ends.
func handOverSignal(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR2)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
