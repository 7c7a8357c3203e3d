package gateway

import (
	"context"
	"io"
	"net/http"
	"strconv"
)

// maxMirrored bounds the copies in flight: when the canary is slower than the traffic,
// copies are dropped (and counted) rather than piling up.
const maxMirrored = 128

// mirror sends a copy of a GET or HEAD request without a body to an instance of the
// route's mirror revision, in the background; the answer is read and discarded, and
// counted in tend_gateway_mirrored_requests_total, apart from user traffic.
func (g *Gateway) mirror(rt *appRoute, r *http.Request) {
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || (r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0) ||
		r.Header.Get("Upgrade") != "" {
		return
	}
	b := rt.mirror.pick(nil)
	if b == nil {
		return
	}
	select {
	case g.mirrors <- struct{}{}:
	default:
		g.metrics.mirrored.WithLabelValues(rt.app, b.revLabel, "dropped").Inc()
		return
	}
	out := r.Clone(context.WithoutCancel(r.Context()))
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = b.target.Scheme, b.target.Host
	out.Host = r.Host
	out.Header.Set("X-Tend-Mirror", "1")
	out.Header.Del(previewHeader)
	go func() {
		defer func() { <-g.mirrors }()
		code := "error"
		resp, err := g.mirrorClient.Do(out)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = strconv.Itoa(resp.StatusCode)
		}
		g.metrics.mirrored.WithLabelValues(rt.app, b.revLabel, code).Inc()
	}()
}
