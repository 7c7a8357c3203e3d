package daemon

import (
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/tendhq/tend/internal/analysis"
	"github.com/tendhq/tend/internal/monitor"
)

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
