package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/analysis"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/monitor"
)

// openMonitor opens the embedded metrics database in DATA/metrics. Its targets are the
// instances of every app, labelled canary while their revision is the one a rollout is
// moving to, stable otherwise.
func openMonitor(cfg Config, dir string, self prometheus.Gatherer, ctl func() *controller.Controller, log *slog.Logger) (*monitor.Monitor, error) {
	return monitor.Open(monitor.Options{
		Dir: filepath.Join(dir, "metrics"), Retention: cfg.Retention, MaxBytes: cfg.RetentionBytes,
		Interval: cfg.ScrapeInterval, Self: self, Logger: log,
		Targets: func(ctx context.Context) []monitor.Target {
			c := ctl()
			if c == nil {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			apps, err := c.List(ctx)
			if err != nil {
				log.Warn("list apps for scraping", "err", err)
				return nil
			}
			var out []monitor.Target
			for _, a := range apps {
				canary := 0
				if r := a.Rollout; !r.Phase.Terminal() && r.From != 0 {
					canary = r.To
				}
				for _, in := range a.Running {
					t := monitor.Target{App: a.App, Revision: in.Revision, Instance: in.ID, Role: "stable", PID: in.PID, Restarts: in.Restarts}
					if in.Revision == canary {
						t.Role = "canary"
					}
					if a.Current != nil {
						t.MemoryLimit = a.Current.Spec.Resources.MemoryBytes
					}
					if a.Current != nil && !a.Current.Spec.Metrics.Disabled {
						m := a.Current.Spec.Metrics
						addr := in.AdminAddr
						if m.Port == "app" {
							addr = in.Addr
						}
						if addr != "" {
							t.URL = "http://" + addr + m.Path
						}
					}
					out = append(out, t)
				}
			}
			return out
		},
	})
}

// newAnalyzer judges canaries from the embedded monitor, or from the Prometheus at
// cfg.PrometheusURL when one is given.
func newAnalyzer(cfg Config, mon *monitor.Monitor, gateway string, log *slog.Logger) (*analysis.Analyzer, error) {
	a := &analysis.Analyzer{Querier: mon, Resolution: mon.SelfInterval(), Gateway: gateway, Logger: log}
	if cfg.PrometheusURL != "" {
		u, err := parseHTTPURL(cfg.PrometheusURL)
		if err != nil {
			return nil, fmt.Errorf("--prometheus-url: %w", err)
		}
		log.Info("canary analysis queries an external Prometheus", "url", u.Redacted())
		// an external Prometheus scrapes at its own pace: compare one sample per 15s, its default
		a.Querier, a.Resolution = &monitor.Remote{URL: cfg.PrometheusURL}, 15*time.Second
	}
	return a, nil
}

func parseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("want a URL like http://127.0.0.1:9090, got %q", s)
	}
	return u, nil
}
