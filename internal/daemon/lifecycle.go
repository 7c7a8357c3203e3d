package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// part is one piece of the server in its order table: parts start in the table's
// order and stop in reverse. Each of the three functions may be nil.
type part struct {
	name string
	// start opens the part; it returns once the part can be used by the parts after it.
	start func(ctx context.Context) error
	// run is the part's work, from its start until the server stops; an error from it
	// stops the server.
	run func(ctx context.Context) error
	// stop closes the part, after its run returned; how says what the running things
	// it holds (instances, the gateway) become.
	stop func(ctx context.Context, how ending) error
}

// ending is how a server stops.
type ending int

const (
	// stopAll (SIGINT, SIGTERM): instances stop gracefully, then the gateway.
	stopAll ending = iota
	// keepRunning (--keep-instances, or Kubernetes): instances and gateway go on, for
	// the next server on the data dir to adopt.
	keepRunning
	// handOver (SIGUSR2): as keepRunning, for a successor that is starting now.
	handOver
	// abandoned: the server did not finish starting; what it adopted keeps running,
	// what it started stops.
	abandoned
)

// lifecycle starts and stops a table of parts.
type lifecycle struct {
	parts []part
	log   *slog.Logger

	started []runningPart
	errc    chan error // the first run that failed
}

type runningPart struct {
	part
	cancel context.CancelFunc
	done   chan struct{}
}

func newLifecycle(log *slog.Logger, parts ...part) *lifecycle {
	return &lifecycle{parts: parts, log: log, errc: make(chan error, 1)}
}

// start starts every part in order, then their runs: no part works (a controller
// resuming rollouts, say) before every part could open. ctx is for the start
// functions; runs get contexts of their own, ended by stop. On an error the parts
// already started stay started and nothing runs: the caller stops them (abandoned).
func (l *lifecycle) start(ctx context.Context) error {
	for _, p := range l.parts {
		if p.start != nil {
			if err := p.start(ctx); err != nil {
				return err
			}
		}
		rp := runningPart{part: p, cancel: func() {}, done: make(chan struct{})}
		close(rp.done) // nothing runs until every part started
		l.started = append(l.started, rp)
	}
	for i := range l.started {
		rp := &l.started[i]
		if rp.run == nil {
			continue
		}
		var runCtx context.Context
		runCtx, rp.cancel = context.WithCancel(context.WithoutCancel(ctx))
		rp.done = make(chan struct{})
		go func(p part, done chan struct{}) {
			defer close(done)
			if err := p.run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				select {
				case l.errc <- fmt.Errorf("%s: %w", p.name, err):
				default:
				}
			}
		}(rp.part, rp.done)
	}
	return nil
}

// failed delivers the first error a part's run returned.
func (l *lifecycle) failed() <-chan error { return l.errc }

// stop stops the started parts in reverse order: it ends a part's run, waits for it,
// then calls its stop. Errors are logged: every part gets its stop. A part whose run
// does not return before ctx ends is left behind (its stop is not called under it);
// once ctx ended, the remaining stops get lateStop each.
func (l *lifecycle) stop(ctx context.Context, how ending) {
	for i := len(l.started) - 1; i >= 0; i-- {
		p := l.started[i]
		p.cancel()
		select {
		case <-p.done:
		default:
			select {
			case <-p.done:
			case <-ctx.Done():
				l.log.Error("a part of the server did not stop in time", "part", p.name, "err", ctx.Err())
				continue
			}
		}
		if p.stop == nil {
			continue
		}
		stopCtx, cancel := ctx, context.CancelFunc(func() {})
		if ctx.Err() != nil {
			stopCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), lateStop)
		}
		if err := p.stop(stopCtx, how); err != nil {
			l.log.Error("stop "+p.name, "err", err)
		}
		cancel()
	}
	l.started = nil
}

// lateStop is what a part's stop gets once the server's stop deadline passed.
const lateStop = 5 * time.Second
