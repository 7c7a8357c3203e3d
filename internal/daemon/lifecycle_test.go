package daemon

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"
)

// journal records what the parts of a table did, in order.
type journal struct {
	mu    sync.Mutex
	lines []string
}

func (j *journal) add(s string) { j.mu.Lock(); j.lines = append(j.lines, s); j.mu.Unlock() }

func (j *journal) part(name string, failStart error, runs bool) part {
	p := part{name: name,
		start: func(context.Context) error { j.add("start " + name); return failStart },
		stop: func(_ context.Context, how ending) error {
			j.add("stop " + name + map[ending]string{stopAll: "", keepRunning: " (keep)", handOver: " (hand over)", abandoned: " (abandoned)"}[how])
			return nil
		}}
	if runs {
		p.run = func(ctx context.Context) error { <-ctx.Done(); j.add("ran " + name); return nil }
	}
	return p
}

func TestPartsStartInOrderAndStopInReverseAfterTheirRuns(t *testing.T) {
	var j journal
	l := newLifecycle(slog.New(slog.DiscardHandler), j.part("store", nil, false), j.part("runtime", nil, true), j.part("api", nil, true))
	if err := l.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.stop(context.Background(), handOver)
	want := []string{"start store", "start runtime", "start api", "ran api", "stop api (hand over)", "ran runtime", "stop runtime (hand over)", "stop store (hand over)"}
	if !reflect.DeepEqual(j.lines, want) {
		t.Errorf("got  %q\nwant %q", j.lines, want)
	}
}

func TestAFailedStartStopsOnlyWhatStarted(t *testing.T) {
	var j journal
	boom := errors.New("boom")
	l := newLifecycle(slog.New(slog.DiscardHandler), j.part("store", nil, true), j.part("runtime", boom, true), j.part("api", nil, true))
	if err := l.start(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("start: %v, want the runtime's error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.stop(ctx, abandoned)
	if ctx.Err() != nil {
		t.Fatal("stopping after a failed start waited for runs that never ran")
	}
	want := []string{"start store", "start runtime", "stop store (abandoned)"}
	if !reflect.DeepEqual(j.lines, want) {
		t.Errorf("got  %q\nwant %q", j.lines, want)
	}
}

func TestARunThatFailsIsReportedWithItsPart(t *testing.T) {
	l := newLifecycle(slog.New(slog.DiscardHandler), part{name: "controller", run: func(context.Context) error { return errors.New("lost the store") }})
	if err := l.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-l.failed():
		if err.Error() != "controller: lost the store" {
			t.Errorf("failed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a failed run was not reported")
	}
	l.stop(context.Background(), stopAll)
}
