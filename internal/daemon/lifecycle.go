package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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

// start starts every part in order, each one's run as soon as it started. ctx is for
// the start functions; runs get contexts of their own, ended by stop. On an error the
// parts already started stay started: the caller stops them (with abandoned).
func (l *lifecycle) start(ctx context.Context) error {
	for _, p := range l.parts {
		if p.start != nil {
			if err := p.start(ctx); err != nil {
				return err
			}
		}
		rp := runningPart{part: p, cancel: func() {}, done: make(chan struct{})}
		if p.run == nil {
			close(rp.done)
		} else {
			var runCtx context.Context
			runCtx, rp.cancel = context.WithCancel(context.WithoutCancel(ctx))
			go func() {
				defer close(rp.done)
				if err := p.run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
					select {
					case l.errc <- fmt.Errorf("%s: %w", p.name, err):
					default:
					}
				}
			}()
		}
		l.started = append(l.started, rp)
	}
	return nil
}

// failed delivers the first error a part's run returned.
func (l *lifecycle) failed() <-chan error { return l.errc }

// stop stops the started parts in reverse order: it ends a part's run, waits for it,
// then calls its stop. Errors are logged: every part gets its stop. It returns once
// all are stopped, or when ctx ends while a run does not return.
func (l *lifecycle) stop(ctx context.Context, how ending) {
	var once sync.Once
	for i := len(l.started) - 1; i >= 0; i-- {
		p := l.started[i]
		p.cancel()
		select {
		case <-p.done:
		case <-ctx.Done():
			once.Do(func() { l.log.Error("a part of the server did not stop in time", "part", p.name, "err", ctx.Err()) })
			continue
		}
		if p.stop != nil {
			if err := p.stop(ctx, how); err != nil {
				l.log.Error("stop "+p.name, "err", err)
			}
		}
	}
	l.started = nil
}
