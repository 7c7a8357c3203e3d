package dataplane

import (
	"context"
	"time"
)

// spanEvery is how often the gateway's spans are collected (it keeps up to 8192
// between two collections).
const spanEvery = time.Second

// spanLoop collects the gateway's spans every spanEvery and hands them to Options.Spans,
// logging when the gateway had to drop some.
func (p *Plane) spanLoop(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(spanEvery)
	defer t.Stop()
	var dropped int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		spans, d, err := p.client.Spans(cctx)
		cancel()
		if err != nil {
			// the gateway restarts, or is one of before spans: the next collection tries again
			p.log.Debug("collect the gateway's spans", "err", err)
			continue
		}
		if d > dropped {
			p.log.Warn("the gateway dropped spans it could not keep until they were collected", "dropped", d-dropped)
		}
		dropped = d
		if len(spans) > 0 {
			p.o.Spans(spans)
		}
	}
}
