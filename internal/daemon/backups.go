package daemon

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/backup"
)

// StateBackups is where and when tend's own state is backed up (`tend server
// --state-backup-*`).
type StateBackups struct {
	// Schedule is a cron schedule ("": @daily; "off": none).
	Schedule string
	// Dir keeps the archives ("": DATA/backups).
	Dir string
	// Keep is how many are kept (0: 7).
	Keep int
}

// stateBackupPrefix starts the names of the archives of tend's state.
const stateBackupPrefix = "tend-state-"

// openBackups makes the backup scheduler with the job that backs tend's state up.
func (s *server) openBackups(ctx context.Context) error {
	s.backups = backup.NewScheduler(s.reg, s.log.With("component", "backups"))
	c := s.cfg.StateBackups
	if c.Schedule == "off" {
		return nil
	}
	text := c.Schedule
	if text == "" {
		text = "@daily"
	}
	sch, every, err := backup.ParseSchedule(text)
	if err != nil {
		return &ConfigError{fmt.Errorf("--state-backup-schedule: %w", err)}
	}
	dir := c.Dir
	if dir == "" {
		dir = filepath.Join(s.dir, "backups")
	}
	keep := c.Keep
	if keep <= 0 {
		keep = 7
	}
	s.backups.Set(ctx, backup.Job{Name: "state", Kind: "state", ScheduleText: text, Schedule: sch, Every: every, Target: backup.Dir{Path: dir},
		Prefix: stateBackupPrefix, Ext: ".tar.zst", Retain: backup.Retention{Last: keep},
		Write: func(ctx context.Context, w io.Writer) error { _, err := s.writeState(ctx, w, false); return err }})
	return nil
}

func (s *server) runBackups(ctx context.Context) error {
	s.backups.Run(ctx)
	return nil
}

// writeState writes an archive of tend's state to w.
func (s *server) writeState(ctx context.Context, w io.Writer, includeKey bool) (*backup.Manifest, error) {
	st := backup.State{Store: s.st, DataDir: s.dir, StoreName: "embedded", Version: s.cfg.Version}
	if k := s.secrets.Keys(); k != nil {
		st.KeyFile = k.Path()
	} else if includeKey {
		return nil, fmt.Errorf("the secrets key does not load, so it cannot be archived: %w", s.secrets.Err())
	}
	if len(s.cfg.EtcdEndpoints) > 0 {
		st.StoreName = strings.Join(s.cfg.EtcdEndpoints, ",")
	}
	if s.alerts.Embedded() {
		st.Alerting = s.alerts
	}
	tmp := filepath.Join(s.dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	return st.Write(ctx, w, tmp, includeKey)
}

// backupsAPI is the server's backups as the API asks for them.
type backupsAPI struct{ s *server }

func (b backupsAPI) WriteState(ctx context.Context, w io.Writer, includeKey bool) (*backup.Manifest, error) {
	return b.s.writeState(ctx, w, includeKey)
}

func (b backupsAPI) List(ctx context.Context, app string) ([]v1.Backup, error) {
	var out []v1.Backup
	for _, st := range b.s.backups.Status(app) {
		j, ok := b.s.backups.Job(st.App, st.Name)
		if !ok {
			continue
		}
		v := v1.Backup{App: st.App, Name: st.Name, Kind: j.Kind, Schedule: j.ScheduleText, Target: j.Target.String(), Next: st.Next,
			LastSuccess: st.LastSuccess, LastAttempt: st.LastAttempt, LastError: st.LastError, Archives: []v1.BackupArchive{}}
		objs, err := j.Target.List(ctx, j.Prefix)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			v.Archives = append(v.Archives, v1.BackupArchive{Name: o.Name, Time: o.Time, Size: o.Size, SHA256: o.SHA256, Seconds: o.Took.Seconds()})
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b v1.Backup) int { return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Name, b.Name)) })
	return out, nil
}

func (b backupsAPI) Run(ctx context.Context, app, name string) (backup.Object, error) {
	j, ok := b.s.backups.Job(app, name)
	if !ok {
		if app == "" {
			return backup.Object{}, fmt.Errorf("%w: tend's state has backup \"state\" only, unless tend server runs with --state-backup-schedule off", api.ErrNoBackup)
		}
		return backup.Object{}, fmt.Errorf("%w: %s has no backup %q in its spec", api.ErrNoBackup, app, name)
	}
	return b.s.backups.RunNow(ctx, j)
}
