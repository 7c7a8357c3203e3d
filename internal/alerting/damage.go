package alerting

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/alertmanager/nflog"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/client_golang/prometheus"
)

// DamagedError is a state file of the embedded Alertmanager that does not read back and
// that tend does not set aside by itself: the silences (tend server exits rather than
// start without them: that would notify, and open incidents, for every alert they
// silence, with nothing said), or a notification log that cannot be moved aside.
type DamagedError struct {
	File   string // DATA/alerting/alertmanager/silences or nflog
	What   string // what is wrong with it
	WayOut string // what to do
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the Alertmanager's state is damaged: %s %s. tend cannot start on it. %s", e.File, e.What, e.WayOut)
}

// checkSilences reads the silences file as the Alertmanager will (into a registry of its
// own: its metrics can be registered only once), and says how it is damaged.
func checkSilences(file string) error {
	_, err := silence.New(silence.Options{SnapshotFile: file, Retention: retention, Metrics: prometheus.NewRegistry()})
	if err == nil {
		return nil
	}
	what := fmt.Sprintf("does not read back (%v)", err)
	if _, rerr := os.Stat(file); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		what = fmt.Sprintf("cannot be read (%v)", rerr)
	}
	return &DamagedError{File: file, What: what, WayOut: fmt.Sprintf("Without its silences, every alert they silence would notify and open incidents again. "+
		"Either restore %s from a copy taken while tend was stopped, or move it aside (mv %s %s.damaged) and start again without silences, "+
		"then add again those still needed (amtool silence add, or POST /alertmanager/api/v2/silences on tend's API)", file, file, file)}
}

// openNotificationLog opens the notification log. One that does not read back is
// moved aside, loudly, and the log starts empty: it only keeps alert groups from being
// notified twice, so the cost is one more notification for the groups that fire, and
// refusing to start for it would cost far more.
func openNotificationLog(file string, reg prometheus.Registerer, log *slog.Logger) (*nflog.Log, error) {
	opts := nflog.Options{SnapshotFile: file, Retention: retention, Logger: log.With("component", "nflog"), Metrics: reg}
	check := opts
	check.Logger, check.Metrics = nil, prometheus.NewRegistry()
	if _, err := nflog.New(check); err != nil {
		aside := file + ".damaged-" + time.Now().UTC().Format("20060102T150405")
		if rerr := os.Rename(file, aside); rerr != nil {
			return nil, &DamagedError{File: file, What: fmt.Sprintf("does not read back (%v), and it cannot be moved aside (%v)", err, rerr),
				WayOut: fmt.Sprintf("Move it aside by hand (mv %s %s.damaged) and start again: the log only keeps alert groups from being notified twice", file, file)}
		}
		log.Warn("the Alertmanager's notification log was damaged and was moved aside; it starts empty: the alert groups firing now notify their receivers once more",
			"file", file, "movedTo", aside, "damage", err.Error(), "wayOut", "nothing to do; delete "+aside+" once you no longer need it")
	}
	nl, err := nflog.New(opts)
	if err != nil {
		return nil, fmt.Errorf("open the notification log %s: %w", file, err)
	}
	return nl, nil
}
