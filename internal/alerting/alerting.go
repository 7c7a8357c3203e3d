// Package alerting evaluates Prometheus alerting rules against tend's metrics and routes the alerts through an embedded Alertmanager.
package alerting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
)

// DefaultInterval is how often the rules are evaluated. Prometheus' default is a minute;
// tend's rules read a handful of local series, so every 2s costs little and an alert's
// `for` starts counting within 2s of the fault.
const DefaultInterval = 2 * time.Second

// Storage is the metrics database the rules read and write their ALERTS series to.
type Storage interface {
	storage.Queryable
	storage.AppendableV2
}

// Options configure alerting.
type Options struct {
	// Dir holds the Alertmanager's state (silences, notification log) and the
	// configuration files tend writes (DATA/alerting).
	Dir string
	// RuleFiles are Prometheus rule files; Builtin adds BuiltinRules.
	RuleFiles []string
	Builtin   bool
	// Interval is how often rules are evaluated (DefaultInterval).
	Interval time.Duration
	// ConfigFile is the Alertmanager configuration ("": DefaultConfig).
	ConfigFile string
	// AlertmanagerURL sends alerts to an external Alertmanager instead of the embedded one.
	AlertmanagerURL string
	// APIURL is tend's API (http://host:port), what alerts link to.
	APIURL string
	// Incidents receives the embedded Alertmanager's notifications for tend's incident
	// receiver (nil: none are delivered).
	Incidents chan<- Notification
	// Apps lists the apps' own rules; polled every Interval (nil: none).
	Apps func(ctx context.Context) ([]AppRules, error)
	// Storage and Engine are the monitor's TSDB and PromQL engine.
	Storage    Storage
	Engine     *promql.Engine
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Alerting runs the rules manager and, unless alerts go elsewhere, an Alertmanager.
type Alerting struct {
	o      Options
	log    *slog.Logger
	rules  *rules.Manager
	am     *alertmanager
	sender *sender
	digest [32]byte // of the apps' rules loaded now

	stopOnce sync.Once
	mu       sync.Mutex
	cancel   context.CancelFunc
	done     chan struct{}
}

// Open checks the rule files and the Alertmanager configuration and builds everything;
// nothing runs until Run.
func Open(o Options) (*Alerting, error) {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the alerting dir %s: %w", o.Dir, err)
	}
	if err := checkRuleFiles(o.RuleFiles); err != nil {
		return nil, err
	}
	files, err := writeRuleSet(o.Dir, o.Builtin, o.RuleFiles, nil)
	if err != nil {
		return nil, fmt.Errorf("write the rule files: %w", err)
	}
	a := &Alerting{o: o, log: o.Logger, done: make(chan struct{}), digest: appsDigest(nil)}
	if o.AlertmanagerURL == "" {
		cfg, err := LoadConfig(o.ConfigFile)
		if err != nil {
			return nil, err
		}
		for _, w := range cfg.Warnings {
			a.log.Warn("alertmanager config: " + w)
		}
		a.am, err = startAlertmanager(cfg, filepath.Join(o.Dir, "alertmanager"), o.APIURL+Prefix, o.Incidents, o.Registerer, o.Logger)
		if err != nil {
			return nil, err
		}
		a.sender = newSender(&url.URL{Scheme: "http", Host: "alertmanager", Path: Prefix},
			&http.Client{Transport: inProcess{a.am.handler}}, o.Logger.With("component", "alert-sender"))
	} else {
		u, err := url.Parse(o.AlertmanagerURL)
		if err != nil {
			return nil, fmt.Errorf("alertmanager URL %q: %w", o.AlertmanagerURL, err)
		}
		a.sender = newSender(u, &http.Client{Timeout: 10 * time.Second}, o.Logger.With("component", "alert-sender"))
	}
	a.rules = rules.NewManager(&rules.ManagerOptions{
		ExternalURL:     mustURL(o.APIURL + "/prometheus"),
		QueryFunc:       rules.EngineQueryFunc(o.Engine, o.Storage),
		NotifyFunc:      rules.SendAlerts(a.sender, o.APIURL+"/prometheus"),
		Context:         context.Background(),
		AppendableV2:    o.Storage,
		Queryable:       o.Storage,
		Logger:          o.Logger.With("component", "rules"),
		Registerer:      o.Registerer,
		OutageTolerance: time.Hour,
		ForGracePeriod:  10 * time.Minute,
		ResendDelay:     time.Minute,
	})
	if err := a.rules.Update(o.Interval, files, labels.EmptyLabels(), o.APIURL+"/prometheus", nil); err != nil {
		a.Close()
		return nil, fmt.Errorf("load the alerting rules: %w", err)
	}
	return a, nil
}

// RuleGroups are the rule groups being evaluated, for the Prometheus API's rules and alerts.
func (a *Alerting) RuleGroups() []*rules.Group { return a.rules.RuleGroups() }

// Firing reports whether the embedded Alertmanager holds the alert with this fingerprint
// and it has not ended; with an external Alertmanager it cannot tell (ok false).
func (a *Alerting) Firing(fingerprint string) (firing, ok bool) {
	if a.am == nil {
		return false, false
	}
	fp, err := model.ParseFingerprint(fingerprint)
	if err != nil {
		return false, false
	}
	al, err := a.am.alerts.Get(fp)
	if err != nil {
		return false, true // not there (never sent since the start, or collected)
	}
	return !al.Resolved(), true
}

// Run evaluates the rules and delivers their alerts until ctx ends or Close.
func (a *Alerting) Run(ctx context.Context) {
	defer close(a.done)
	ctx, cancel := context.WithCancel(ctx)
	a.mu.Lock()
	a.cancel = cancel
	a.mu.Unlock()
	go a.rules.Run()
	if a.o.Apps != nil {
		go a.followApps(ctx)
	}
	a.sender.run(ctx)
}

// followApps reloads the rules when an app's own rules (or its built-in switch) change.
func (a *Alerting) followApps(ctx context.Context) {
	t := time.NewTicker(a.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		apps, err := a.o.Apps(ctx)
		if err != nil {
			a.log.Warn("list the apps' alerting rules; the rules loaded before stay", "err", err)
			continue
		}
		digest := appsDigest(apps)
		if digest == a.digest {
			continue
		}
		files, err := writeRuleSet(a.o.Dir, a.o.Builtin, a.o.RuleFiles, apps)
		if err != nil {
			a.log.Error("write the apps' rule files; the rules loaded before stay", "err", err)
			continue
		}
		if err := a.rules.Update(a.o.Interval, files, labels.EmptyLabels(), a.o.APIURL+"/prometheus", nil); err != nil {
			a.log.Error("load the apps' rules; the rules loaded before stay", "err", err)
			continue
		}
		a.digest = digest
		a.log.Info("alerting rules reloaded", "files", len(files))
	}
}

// Close stops evaluating rules and stops the Alertmanager, which writes its silences and
// notification log to disk.
func (a *Alerting) Close() {
	a.stopOnce.Do(func() {
		a.mu.Lock()
		cancel := a.cancel
		a.mu.Unlock()
		if cancel == nil {
			// the rules manager's groups wait for Run before they can stop: a server that
			// fails to start after Open would otherwise hang here
			go a.rules.Run()
		}
		a.rules.Stop()
		if cancel != nil {
			cancel()
			<-a.done
		}
		if a.am != nil {
			a.am.stop()
		}
	})
}

// Handler serves the embedded Alertmanager's API v2 under Prefix; the caller
// authenticates. It answers 404 when alerts go to an external Alertmanager.
func (a *Alerting) Handler() http.Handler {
	if a.am == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "alerts go to the external Alertmanager at "+a.o.AlertmanagerURL, http.StatusNotFound)
		})
	}
	return a.am.handler
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return &url.URL{}
	}
	return u
}

// Embedded says whether alerts go to the embedded Alertmanager (which keeps silences
// and a notification log in the data dir).
func (a *Alerting) Embedded() bool { return a.am != nil }

// SnapshotSilences writes the embedded Alertmanager's silences to w, in the format of
// its snapshot file.
func (a *Alerting) SnapshotSilences(w io.Writer) error {
	if a.am == nil {
		return errors.New("alerts go to an external Alertmanager, which keeps the silences")
	}
	_, err := a.am.silences.Snapshot(w)
	return err
}

// SnapshotNotificationLog writes the embedded Alertmanager's notification log to w, in
// the format of its snapshot file.
func (a *Alerting) SnapshotNotificationLog(w io.Writer) error {
	if a.am == nil {
		return errors.New("alerts go to an external Alertmanager, which keeps the notification log")
	}
	_, err := a.am.nflog.Snapshot(w)
	return err
}
