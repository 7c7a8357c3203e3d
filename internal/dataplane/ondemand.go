package dataplane

import (
	"context"
	"sync"
	"time"
)

// Tunables (variables for the tests).
var (
	// wantedWait is how long a poll of the gateway's wanted hosts waits for one.
	wantedWait = 25 * time.Second
	// wantedBackoff is the wait after a failed poll (the gateway restarting, say).
	wantedBackoff = time.Second
	// maxWantCalls bounds the Options.OnDemand calls running at once.
	maxWantCalls = 4
)

// wantLoop long-polls the hosts the gateway's TLS clients wait on-demand certificates
// for, and hands each to Options.OnDemand once (again only if the gateway wants it anew).
func (p *Plane) wantLoop(ctx context.Context) {
	defer p.wg.Done()
	var calls sync.WaitGroup
	defer calls.Wait()
	slots := make(chan struct{}, maxWantCalls)
	var mu sync.Mutex
	running := map[string]bool{}
	var after int64
	failing := false
	for {
		pctx, cancel := context.WithTimeout(ctx, wantedWait+10*time.Second)
		list, err := p.client.Wanted(pctx, wantedWait, after)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !failing {
				failing = true
				p.log.Warn("cannot ask the gateway which hosts want on-demand certificates; asking again", "err", err)
			}
			after = 0 // a new gateway: ask for all it has
			select {
			case <-ctx.Done():
				return
			case <-time.After(wantedBackoff):
			}
			continue
		}
		if failing {
			failing = false
			p.log.Info("the gateway tells the hosts that want on-demand certificates again")
		}
		for _, w := range list {
			after = max(after, w.Seq)
			mu.Lock()
			busy := running[w.Host]
			running[w.Host] = true
			mu.Unlock()
			if busy {
				continue
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			calls.Go(func() {
				defer func() {
					<-slots
					mu.Lock()
					delete(running, w.Host)
					mu.Unlock()
				}()
				if p.o.OnDemand(w.Host, w.App) {
					p.deny(ctx, w.Host)
				}
			})
		}
	}
}
