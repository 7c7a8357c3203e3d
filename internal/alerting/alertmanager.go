package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/api"
	"github.com/prometheus/alertmanager/config/receiver"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/eventrecorder"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/marker"
	"github.com/prometheus/alertmanager/nflog"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/provider/mem"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/route"
	"github.com/prometheus/common/version"
)

// Prefix is where the embedded Alertmanager's API is served in tend's API.
const Prefix = "/alertmanager"

// maintenance is how often silences and the notification log are written to disk (and
// at stop): a crash loses at most this much of them.
const maintenance = 15 * time.Second

// retention is how long expired silences and notification log entries are kept.
const retention = 120 * time.Hour

// alertmanager is Alertmanager's own dispatcher, inhibitor, silences, notification log
// and API v2, wired in-process without its UI and listener.
type alertmanager struct {
	handler    http.Handler
	alerts     *mem.Alerts
	dispatcher *dispatch.Dispatcher
	inhibitor  *inhibit.Inhibitor
	silences   *silence.Silences
	nflog      *nflog.Log
	stopc      chan struct{}
	wg         sync.WaitGroup
}

// announceVersion makes the API's status say which Alertmanager runs (amtool compares
// it with its own), from the module version this binary was built with.
func announceVersion() {
	if version.Version != "" {
		return
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/prometheus/alertmanager" {
				version.Version = strings.TrimPrefix(d.Version, "v")
			}
		}
	}
}

func startAlertmanager(cfg *Config, dir, externalURL string, incidents chan<- Notification, reg prometheus.Registerer, log *slog.Logger) (*alertmanager, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	// written for the curious: it is what runs (tend's receiver included)
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), cfg.Text, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", filepath.Join(dir, "alertmanager.yml"), err)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	announceVersion()
	var rec eventrecorder.Recorder
	flags := featurecontrol.NoopFlags{}
	am := &alertmanager{stopc: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			am.stop()
		}
	}()

	// damaged silences stop the server before anything runs; a damaged notification log
	// is moved aside
	silFile := filepath.Join(dir, "silences")
	if err := checkSilences(silFile); err != nil {
		return nil, err
	}
	nflogFile := filepath.Join(dir, "nflog")
	nl, err := openNotificationLog(nflogFile, reg, log)
	if err != nil {
		return nil, err
	}
	am.nflog = nl
	am.wg.Go(func() { nl.Maintenance(maintenance, nflogFile, am.stopc, nil) })
	silences, err := silence.New(silence.Options{SnapshotFile: silFile, Retention: retention, Logger: log.With("component", "silences"), Metrics: reg, EventRecorder: rec})
	if err != nil {
		return nil, fmt.Errorf("open the silences %s: %w", silFile, err)
	}
	am.silences = silences
	am.wg.Go(func() { silences.Maintenance(maintenance, silFile, am.stopc, nil) })
	silencer := silence.NewSilencer(silences, log, rec)
	am.alerts, err = mem.NewAlerts(context.Background(), 30*time.Minute, 0, silencer, log.With("component", "alerts"), rec, reg, flags)
	if err != nil {
		return nil, fmt.Errorf("create the alert store: %w", err)
	}

	ext, err := url.Parse(externalURL)
	if err != nil {
		return nil, fmt.Errorf("external URL %q: %w", externalURL, err)
	}
	tmpl, err := template.FromGlobs(cfg.Parsed.Templates)
	if err != nil {
		return nil, fmt.Errorf("alertmanager templates: %w", err)
	}
	tmpl.ExternalURL = ext
	routes := dispatch.NewRoute(cfg.Parsed.Route, nil)
	used := map[string]bool{}
	routes.Walk(func(r *dispatch.Route) { used[r.RouteOpts.Receiver] = true })
	receivers := map[string][]notify.Integration{}
	for _, rcv := range cfg.Parsed.Receivers {
		if !used[rcv.Name] {
			continue
		}
		if rcv.Name == IncidentReceiver {
			receivers[rcv.Name] = nil // a stage that delivers nowhere, without an inbox
			if incidents != nil {
				n := &toIncidents{inbox: incidents, tmpl: tmpl, log: log.With("component", "notify")}
				receivers[rcv.Name] = []notify.Integration{notify.NewIntegration(n, n, "tend-incidents", 0, rcv.Name)}
			}
			continue
		}
		ints, err := receiver.BuildReceiverIntegrations(rcv, tmpl, log.With("component", "notify"))
		if err != nil {
			return nil, fmt.Errorf("receiver %q: %w", rcv.Name, err)
		}
		receivers[rcv.Name] = ints
	}
	intervals := map[string][]timeinterval.TimeInterval{}
	for _, ti := range cfg.Parsed.MuteTimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}
	for _, ti := range cfg.Parsed.TimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}
	groups := marker.NewGroupMarker()
	am.inhibitor = inhibit.NewInhibitor(am.alerts, cfg.Parsed.InhibitRules, log.With("component", "inhibit"), rec)
	pipeline := notify.NewPipelineBuilder(reg, flags, rec).New(receivers, func() time.Duration { return 0 },
		am.inhibitor, silencer, timeinterval.NewIntervener(intervals), groups, nl, nil)
	timeout := func(d time.Duration) time.Duration { return max(d, notify.MinTimeout) }
	am.dispatcher = dispatch.NewDispatcher(am.alerts, routes, pipeline, groups, timeout, 30*time.Second, nil,
		log.With("component", "dispatcher"), rec, dispatch.NewDispatcherMetrics(false, reg, flags), tmpl)

	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "alertmanager_http_request_duration_seconds",
		Help: "Latency of the embedded Alertmanager's API requests.", Buckets: prometheus.DefBuckets}, []string{"handler", "method", "code"})
	if err := reg.Register(duration); err != nil {
		return nil, fmt.Errorf("register the Alertmanager API's metrics: %w", err)
	}
	apih, err := api.New(api.Options{RequestDuration: duration,
		Alerts: am.alerts, Silences: silences, GroupMutedFunc: groups.Muted, Timeout: time.Minute,
		Logger: log.With("component", "alertmanager-api"), Registry: reg,
		GroupFunc: func(ctx context.Context, rf func(*dispatch.Route) bool, af func(*alert.Alert, time.Time) bool) (dispatch.AlertGroups, map[model.Fingerprint][]string, error) {
			return am.dispatcher.Groups(ctx, rf, af)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create the Alertmanager API: %w", err)
	}
	apih.Update(cfg.Parsed, func(ctx context.Context, ls model.LabelSet) {
		am.inhibitor.Mutes(ctx, ls)
		silencer.Mutes(ctx, ls)
	})
	am.handler = apih.Register(route.New(), Prefix)

	go am.inhibitor.Run()
	am.inhibitor.WaitForLoading()
	go am.dispatcher.Run(time.Now())
	am.dispatcher.WaitForLoading()
	ok = true
	return am, nil
}

// stop ends dispatching and writes silences and the notification log to disk.
func (am *alertmanager) stop() {
	if am.inhibitor != nil {
		am.inhibitor.Stop()
	}
	if am.dispatcher != nil {
		am.dispatcher.Stop()
	}
	if am.alerts != nil {
		am.alerts.Close()
	}
	close(am.stopc)
	am.wg.Wait()
}

// inProcess is an http.RoundTripper that serves requests with a handler, so that alerts
// reach the embedded Alertmanager through its API without a socket.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	return w.Result(), nil
}
