package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
)

// follow shows the progress of the rollout to revision rev until it ends, and returns
// an error carrying the exit code when it did not complete. On a terminal a line is
// rewritten in place while only its counts change, and kept when the rollout moves to
// another step or phase, so the steps stay on screen; each line fits the terminal's
// width. Otherwise every change is a line of its own.
func follow(ctx context.Context, c *api.Client, app string, rev int, w io.Writer) error {
	_, err := followState(ctx, c, app, rev, w)
	return err
}

// followState is follow, which also returns the rollout's last state.
func followState(ctx context.Context, c *api.Client, app string, rev int, w io.Writer) (v1.Rollout, error) {
	live := &liveLine{w: w, width: terminalWidth(w)}
	stop := live.countdown()
	defer stop()
	var last, lastStep string
	var final v1.Rollout
	err := c.Watch(ctx, app, func(st v1.Rollout) error {
		if st.To == 0 && st.Stable == 0 {
			return fmt.Errorf("%s was deleted (tend delete) while its rollout to revision %d was followed", app, rev)
		}
		if st.To != rev && st.Stable != rev {
			return nil // an older rollout's state, before ours started
		}
		line := progressLine(st)
		if line != last {
			last = line
			step := fmt.Sprintf("%s %d %d", st.Phase, st.Step, st.Weight)
			live.show(time.Now().Format("15:04:05")+"  "+progressHead(st), st.Message, st.PauseUntil, step != lastStep && lastStep != "")
			lastStep = step
		}
		final = st
		if st.Phase.Terminal() || (st.Phase == v1.Paused && st.PauseUntil.IsZero()) {
			return api.ErrStop
		}
		return nil
	})
	stop()
	if live.width > 0 && last != "" {
		fmt.Fprintln(w)
	}
	if ctx.Err() != nil {
		return final, fmt.Errorf("stopped following (%v); the rollout of %s revision %d goes on on the server: "+
			"tend rollout status %s follows it again, tend abort %s stops it", context.Cause(ctx), app, rev, app, app)
	}
	if err != nil {
		return final, err
	}
	switch {
	case final.Stable == rev && (final.Phase == v1.Completed || final.Phase == v1.RolledBack):
		return final, nil // a deploy that completed, or a rollback that reached its revision
	case final.Phase == v1.Paused:
		return final, &exitCodeError{code: exitPaused, err: fmt.Errorf("rollout of %s revision %d is paused: %s", app, rev, final.Message)}
	default:
		return final, &exitCodeError{code: exitRolloutFailed, err: fmt.Errorf("rollout of %s revision %d %s: %s", app, rev, endedAs[final.Phase], final.Message)}
	}
}

// liveLine is the progress's last line. On a terminal (width > 0) it is rewritten in
// place, a new row begins when the rollout moves to another step, and a timed pause
// counts down every second; elsewhere every change is a line of its own.
type liveLine struct {
	mu         sync.Mutex
	w          io.Writer
	width      int
	head, text string
	until      time.Time
}

// show makes head and text the live line (on a new row when newRow), counting down to
// until, between them, when it is set.
func (l *liveLine) show(head, text string, until time.Time, newRow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.head, l.text, l.until = head, text, until
	if l.width == 0 {
		fmt.Fprintf(l.w, "%s  %s\n", head, text)
		return
	}
	if newRow {
		fmt.Fprint(l.w, "\n")
	}
	l.drawLocked()
}

func (l *liveLine) drawLocked() {
	line := l.head
	if left := time.Until(l.until); left > 0 {
		line += fmt.Sprintf("  %s left", left.Round(time.Second))
	}
	fmt.Fprintf(l.w, "\r\033[K%s", fit(line+"  "+l.text, l.width))
}

// countdown redraws a terminal's live line every second while a timed pause runs,
// until the returned stop is called (more than once is fine).
func (l *liveLine) countdown() (stop func()) {
	if l.width == 0 {
		return func() {}
	}
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				l.mu.Lock()
				if l.head != "" && !l.until.IsZero() && time.Until(l.until) > -time.Second {
					l.drawLocked()
				}
				l.mu.Unlock()
			}
		}
	}()
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// terminalWidth is w's width in columns when it is a terminal, else 0.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		return 80
	}
	return cols
}

// fit cuts line to less than width columns (one rune a column), so that a terminal
// never wraps it: a wrapped line cannot be rewritten in place.
func fit(line string, width int) string {
	r := []rune(line)
	if len(r) < width {
		return line
	}
	if width < 2 {
		return ""
	}
	return string(r[:width-2]) + "…"
}

// endedAs says how a rollout that did not reach its revision ended.
var endedAs = map[v1.Phase]string{v1.RolledBack: "was rolled back", v1.Aborted: "was aborted",
	v1.Failed: "failed", v1.Completed: "completed on another revision", v1.Reverting: "is being reverted",
	v1.Progressing: "is still progressing"}

func progressLine(st v1.Rollout) string { return progressHead(st) + "  " + st.Message }

// progressHead is the fixed-width start of a progress line.
func progressHead(st v1.Rollout) string {
	return fmt.Sprintf("%-11s rev %d→%d  ready %d/%d  weight %3d%%", st.Phase, st.From, st.To, st.ReadyNew, st.Replicas, st.Weight)
}
