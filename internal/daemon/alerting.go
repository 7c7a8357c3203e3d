package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/alerting"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/incident"
	"github.com/tendhq/tend/internal/monitor"
	"github.com/tendhq/tend/internal/store"
)

// ConfigError is a server configuration file (rules, Alertmanager, incidents) that does
// not load; the server did not start.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// openAlerting starts evaluating rules on the embedded metrics and routing their alerts
// (embedded Alertmanager unless cfg.AlertmanagerURL); incident alerts come back to the
// API at apiURL.
func openAlerting(cfg Config, dir, apiURL string, inbox chan<- alerting.Notification, mon *monitor.Monitor, ctl *controller.Controller, reg prometheus.Registerer, log *slog.Logger) (*alerting.Alerting, error) {
	if cfg.AlertmanagerURL != "" {
		if _, err := parseHTTPURL(cfg.AlertmanagerURL); err != nil {
			return nil, &ConfigError{fmt.Errorf("--alertmanager-url: %w", err)}
		}
	}
	a, err := alerting.Open(alerting.Options{Apps: appRules(ctl),
		Dir: filepath.Join(dir, "alerting"), RuleFiles: cfg.RuleFiles, Builtin: !cfg.NoBuiltinRules, Interval: cfg.RuleInterval,
		ConfigFile: cfg.AlertmanagerConfig, AlertmanagerURL: cfg.AlertmanagerURL, APIURL: apiURL, Incidents: inbox,
		Storage: mon.DB(), Engine: mon.Engine(), Registerer: reg, Logger: log,
	})
	var damaged *alerting.DamagedError
	if errors.As(err, &damaged) {
		return nil, err // damaged state, not configuration: exit code 1, and the error says the way out
	}
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("alerting: %w", err)}
	}
	return a, nil
}

// appRules lists the rules each app's spec brings (read at its last deploy).
func appRules(ctl *controller.Controller) func(context.Context) ([]alerting.AppRules, error) {
	return func(ctx context.Context) ([]alerting.AppRules, error) {
		apps, err := ctl.List(ctx)
		if err != nil {
			return nil, err
		}
		var out []alerting.AppRules
		for _, a := range apps {
			if a.Current == nil {
				continue
			}
			r := alerting.AppRules{App: a.App, NoBuiltin: a.Current.Spec.Alerts.NoBuiltin}
			for _, f := range a.Current.Spec.Alerts.RuleFiles {
				r.Files = append(r.Files, []byte(f.Content))
			}
			out = append(out, r)
		}
		return out, nil
	}
}

// openIncidents loads the incident configuration and the incidents in the store.
func openIncidents(ctx context.Context, cfg Config, dir string, st *store.Store, ctl *controller.Controller, alerts *alerting.Alerting, mask func(ctx context.Context, app, text string) string,
	reg prometheus.Registerer, log *slog.Logger) (*incident.Manager, error) {
	c, err := incident.LoadConfig(cfg.IncidentsConfig)
	if err != nil {
		return nil, &ConfigError{err}
	}
	return incident.Open(ctx, incident.Options{Store: st, Config: c, Actions: actions{ctl}, Dir: filepath.Join(dir, "incidents"), Firing: alerts.Firing,
		Mask: mask, Registerer: reg, Logger: log.With("component", "incidents")})
}

// actions lets runbooks act through the controller.
type actions struct{ c *controller.Controller }

func (a actions) Rollback(ctx context.Context, app string) (int, error) {
	return a.c.Rollback(ctx, app, 0)
}

func (a actions) Restart(ctx context.Context, app string) error { return a.c.Restart(ctx, app) }

func (a actions) RestartInstance(ctx context.Context, app, id string) error {
	return a.c.RestartInstance(ctx, app, id)
}

func (a actions) Scale(ctx context.Context, app string, to, by int) (int, error) {
	if to == 0 {
		s, err := a.c.Status(ctx, app)
		if err != nil {
			return 0, err
		}
		to = max(1, s.Instances+by)
	}
	// on an autoscaled app, the remediation's count is a floor until the next deploy
	_, err := a.c.Scale(ctx, app, to)
	return to, err
}

func (a actions) InRollout(ctx context.Context, app string) (bool, error) {
	s, err := a.c.Status(ctx, app)
	if err != nil {
		return false, err
	}
	return !s.Rollout.Phase.Terminal(), nil
}

func (a actions) Instances(app string) []incident.Instance {
	s, err := a.c.Status(context.Background(), app)
	if err != nil {
		return nil
	}
	out := make([]incident.Instance, 0, len(s.Running))
	for _, in := range s.Running {
		out = append(out, incident.Instance{ID: in.ID, AdminAddr: in.AdminAddr})
	}
	return out
}

// deliverAlerts hands the embedded Alertmanager's notifications to the incident manager
// until ctx ends, and tells the Alertmanager whether each was taken.
func deliverAlerts(ctx context.Context, inbox <-chan alerting.Notification, m *incident.Manager, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-inbox:
			g := n.Group
			msg := incident.Message{Version: "4", GroupKey: g.Key, Status: g.Status, Receiver: g.Receiver, GroupLabels: g.GroupLabels,
				CommonLabels: g.CommonLabels, CommonAnnotations: g.CommonAnnotations, ExternalURL: g.ExternalURL, Alerts: make([]incident.Alert, len(g.Alerts))}
			for i, a := range g.Alerts {
				msg.Alerts[i] = incident.Alert{Fingerprint: a.Fingerprint, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
					StartsAt: a.StartsAt, EndsAt: a.EndsAt}
			}
			err := m.Receive(ctx, msg)
			if err != nil {
				log.Error("take an Alertmanager notification; it is sent again", "group", g.Key, "err", err)
			}
			n.Done <- err
		}
	}
}
