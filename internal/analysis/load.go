package analysis

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tendhq/tend/internal/rollout"
)

// load sends analysis.load.rps GET requests a second to the canary through the gateway
// (header X-Tend-Preview with the rollout's token reaches the canary whatever its
// weight) until ctx ends, so
// that a quiet app still gets judged. The requests count in the gateway's metrics like
// any other.
func (a *Analyzer) load(ctx context.Context, r rollout.AnalysisRequest, log *slog.Logger) {
	l := r.Analysis.Load
	host := "localhost"
	if len(r.Route.Hosts) > 0 {
		host = r.Route.Hosts[0]
		if host[0] == '*' { // a wildcard host: any name under it
			host = "load" + host[1:]
		}
	}
	path := l.Path
	if path == "" {
		path = r.Route.PathPrefix
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
		// a redirect would take the preview token elsewhere: an answer is an answer
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(time.Second / time.Duration(l.RPS))
	defer tick.Stop()
	inflight := make(chan struct{}, 64)
	log.Info("analysis load started", "rps", l.RPS, "path", path, "host", host)
	for {
		select {
		case <-ctx.Done():
			for range cap(inflight) { // wait for the requests still out
				inflight <- struct{}{}
			}
			return
		case <-tick.C:
		}
		select {
		case inflight <- struct{}{}:
		default:
			continue // the canary is slower than the load: skip rather than pile up
		}
		go func() {
			defer func() { <-inflight }()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Gateway+path, nil)
			if err != nil {
				return
			}
			req.Host = host
			req.Header.Set("X-Tend-Preview", r.PreviewToken)
			req.Header.Set("User-Agent", "tend-analysis-load")
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
}
