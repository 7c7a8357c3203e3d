package daemon

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/backup"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
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
	s.backups = backup.NewScheduler(s.st, s.reg, s.log.With("component", "backups"))
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

// runBackups runs the scheduler, and keeps its jobs in step with the apps' specs.
func (s *server) runBackups(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.backups.Run(ctx) })
	synced := map[string]string{} // app/name → the job's configuration, as last set
	for {
		s.syncAppBackups(ctx, synced)
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-time.After(appBackupSync):
		}
	}
}

// appBackupSync is how often the apps' specs are read for their backups.
const appBackupSync = 5 * time.Second

// syncAppBackups sets a job for each backup of each app's current revision, and
// drops those no spec has any more.
func (s *server) syncAppBackups(ctx context.Context, synced map[string]string) {
	apps, err := s.ctl.List(ctx)
	if err != nil {
		return
	}
	have := map[string]map[string]bool{}
	for _, a := range apps {
		have[a.App] = map[string]bool{}
		if a.Current == nil {
			continue
		}
		sp := a.Current.Spec
		for _, b := range sp.Backups {
			have[a.App][b.Name] = true
			ab, err := s.appBackup(ctx, &sp, b)
			k := a.App + "/" + b.Name
			conf, _ := json.Marshal(struct {
				B      any
				Path   string
				Target string // with a hash of the S3 keys: a rotated key makes a new job
			}{b, ab.FilesPath, targetIdentity(ab.Target)})
			if err != nil {
				if synced[k] != "error:"+err.Error() {
					s.log.Error("backup not scheduled", "app", a.App, "backup", b.Name, "err", err)
					synced[k] = "error:" + err.Error()
				}
				continue
			}
			if synced[k] == string(conf) {
				continue
			}
			j, err := ab.Job()
			if err != nil {
				s.log.Error("backup not scheduled", "app", a.App, "backup", b.Name, "err", err)
				continue
			}
			s.backups.Set(ctx, j)
			synced[k] = string(conf)
		}
	}
	for k := range synced {
		app, name, _ := strings.Cut(k, "/")
		if !have[app][name] {
			delete(synced, k)
		}
	}
	// tend's own (app "") is not a spec's
	s.backups.Keep(func(app, name string) bool { return app == "" || have[app][name] })
}

// targetIdentity names a target, with a hash of an S3 target's keys.
func targetIdentity(t backup.Target) string {
	if t == nil {
		return ""
	}
	if s3, ok := t.(*backup.S3); ok {
		h := sha256.Sum256([]byte(s3.AccessKey + "\x00" + s3.SecretKey))
		return s3.String() + " " + hex.EncodeToString(h[:8])
	}
	return t.String()
}

// appBackup is backup b of the app whose spec is sp, ready to run.
func (s *server) appBackup(ctx context.Context, sp *spec.App, b spec.Backup) (backup.AppBackup, error) {
	ab := backup.AppBackup{App: sp.App, Spec: b, Secrets: s.secretValues, FilesPath: sp.BackupPath(b), TmpDir: filepath.Join(s.dir, "tmp")}
	// the dump runs as the app's instances do (the process runtime's user of the app)
	if c, ok := s.rt.(interface {
		Credential(ctx context.Context, app string) (*syscall.Credential, error)
	}); ok {
		cred, err := c.Credential(ctx, sp.App)
		if err != nil {
			return ab, err
		}
		ab.Cred = cred
		if cred != nil {
			if ab.Exe, err = os.Executable(); err != nil {
				return ab, err
			}
		}
	}
	t, err := backup.NewTarget(ctx, sp.App, b, s.dir, s.secretValues)
	if err != nil {
		return ab, err
	}
	ab.Target = t
	return ab, nil
}

// secretValues reads the current values of app's secrets names.
func (s *server) secretValues(ctx context.Context, app string, names []string) (map[string]string, error) {
	vers, err := s.secrets.Current(ctx, app, names)
	if err != nil {
		return nil, err
	}
	vals, err := s.secrets.Values(ctx, app, vers)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		out[k] = string(v)
	}
	return out, nil
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
			LastSuccess: st.LastSuccess, LastAttempt: st.LastAttempt, LastError: st.LastError, Archives: []v1.BackupArchive{},
			VerifySchedule: j.VerifyText, NextVerify: st.NextVerify}
		if lv := st.LastVerify; lv != nil {
			v.LastVerify = &v1.BackupVerify{Archive: lv.Archive, Time: lv.Time, OK: lv.OK, Message: lv.Message}
		}
		objs, err := j.Target.List(ctx, j.Prefix)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			a := v1.BackupArchive{Name: o.Name, Time: o.Time, Size: o.Size, SHA256: o.SHA256, Seconds: o.Took.Seconds()}
			if lv := st.LastVerify; lv != nil && lv.Archive == o.Name {
				a.Verified = map[bool]string{true: "passed", false: "failed"}[lv.OK]
			}
			v.Archives = append(v.Archives, a)
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

func (b backupsAPI) Restore(ctx context.Context, app, name, archive, to string) (backup.Restored, error) {
	ab, err := b.find(ctx, app, name)
	if err != nil {
		return backup.Restored{}, err
	}
	res, err := ab.Restore(ctx, archive, to)
	if err != nil {
		return res, err
	}
	b.s.log.Info("backup restored", "app", app, "backup", name, "archive", res.Archive, "into", res.Into, "took", res.Took)
	return res, nil
}

func (b backupsAPI) Verify(ctx context.Context, app, name, archive string) (store.BackupVerify, error) {
	j, ok := b.s.backups.Job(app, name)
	if !ok || app == "" {
		return store.BackupVerify{}, fmt.Errorf("%w: %s has no backup %q in its spec", api.ErrNoBackup, app, name)
	}
	return b.s.backups.VerifyNow(ctx, j, archive)
}

// find is app's backup name as its current revision's spec has it.
func (b backupsAPI) find(ctx context.Context, app, name string) (backup.AppBackup, error) {
	st, err := b.s.ctl.Status(ctx, app)
	if err != nil {
		return backup.AppBackup{}, err
	}
	if st.Current != nil {
		sp := st.Current.Spec
		for _, bk := range sp.Backups {
			if bk.Name == name {
				return b.s.appBackup(ctx, &sp, bk)
			}
		}
	}
	return backup.AppBackup{}, fmt.Errorf("%w: %s has no backup %q in its spec", api.ErrNoBackup, app, name)
}
