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
	"github.com/tendhq/tend/internal/monitor"
)

// openMonitor opens the embedded metrics database in DATA/metrics; it scrapes what
// targets lists.
func openMonitor(cfg Config, dir string, self prometheus.Gatherer, targets func(context.Context) []monitor.Target, log *slog.Logger) (*monitor.Monitor, error) {
	return monitor.Open(monitor.Options{
		Dir: filepath.Join(dir, "metrics"), Retention: cfg.Retention, MaxBytes: cfg.RetentionBytes,
		Interval: cfg.ScrapeInterval, Self: self, Logger: log, Targets: targets,
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
