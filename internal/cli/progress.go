package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
)

// follow shows the progress of the rollout to revision rev until it ends, and returns
// an error carrying the exit code when it did not complete.
func follow(ctx context.Context, c *api.Client, app string, rev int, w io.Writer) error {
	tty := isTerminal(w)
	var last string
	var final v1.Rollout
	err := c.Watch(ctx, app, func(st v1.Rollout) error {
		if st.To != rev && st.Stable != rev {
			return nil // an older rollout's state, before ours started
		}
		line := progressLine(st)
		if line != last {
			last = line
			line = time.Now().Format("15:04:05") + "  " + line
			if tty {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
		final = st
		if st.Phase.Terminal() || (st.Phase == v1.Paused && st.PauseUntil.IsZero()) {
			return api.ErrStop
		}
		return nil
	})
	if tty {
		fmt.Fprintln(w)
	}
	if err != nil {
		return err
	}
	switch {
	case final.Stable == rev && (final.Phase == v1.Completed || final.Phase == v1.RolledBack):
		return nil // a deploy that completed, or a rollback that reached its revision
	case final.Phase == v1.Paused:
		return &exitCodeError{code: exitPaused, err: fmt.Errorf("rollout of %s revision %d is paused: %s", app, rev, final.Message)}
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return &exitCodeError{code: exitRolloutFailed, err: fmt.Errorf("rollout of %s revision %d %s: %s", app, rev, endedAs[final.Phase], final.Message)}
	}
}

// endedAs says how a rollout that did not reach its revision ended.
var endedAs = map[v1.Phase]string{v1.RolledBack: "was rolled back", v1.Aborted: "was aborted",
	v1.Failed: "failed", v1.Completed: "completed on another revision", v1.Reverting: "is being reverted",
	v1.Progressing: "is still progressing"}

func progressLine(st v1.Rollout) string {
	return fmt.Sprintf("%-11s rev %d→%d  ready %d/%d  weight %3d%%  %s", st.Phase, st.From, st.To, st.ReadyNew, st.Replicas, st.Weight, st.Message)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
