package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/tendhq/tend/internal/store"
)

// Job is one scheduled backup: tend's state, or one of an app's backups.
type Job struct {
	App, Name string
	// Kind is what it copies ("state", "postgres", "files"), ScheduleText its schedule
	// as written.
	Kind, ScheduleText string
	// Schedule is when it runs (nil: only when asked); Every is the time between two
	// runs, which BackupMissing compares the newest archive's age with.
	Schedule cron.Schedule
	Every    time.Duration
	Target   Target
	// Prefix starts every archive's name, and Ext ends it (".tar.zst").
	Prefix, Ext string
	Retain      Retention
	// Write writes one archive.
	Write func(ctx context.Context, w io.Writer) error
	// Verify, when set, is the restore drill of an archive, run on VerifySchedule
	// (written VerifyText) on the newest archive: what it found, or why it failed.
	Verify         func(ctx context.Context, archive string) (string, error)
	VerifySchedule cron.Schedule
	VerifyText     string
}

// Status is what a job did last.
type Status struct {
	App, Name   string
	LastSuccess time.Time
	LastObject  *Object
	LastError   string
	LastAttempt time.Time
	Next        time.Time
	NextVerify  time.Time
	LastVerify  *store.BackupVerify
}

// Scheduler runs jobs on their schedules, retrying a failed run with backoff, prunes
// what their retention does not keep, and exports each job's state as metrics.
type Scheduler struct {
	log *slog.Logger
	// st keeps the drills' outcomes (nil: in memory only).
	st *store.Store
	// Retries is how many times a failed run is tried again, after Backoff, then
	// doubled each time.
	Retries int
	Backoff time.Duration
	now     func() time.Time

	mu     sync.Mutex
	jobs   map[string]*running
	wake   chan struct{}
	runMu  sync.Mutex // one archive written at a time: backups share the disk and the CPU
	lastOK *prometheus.GaugeVec
	lastRn *prometheus.GaugeVec
	every  *prometheus.GaugeVec
	size   *prometheus.GaugeVec
	took   *prometheus.GaugeVec
	vOK    *prometheus.GaugeVec
	vAt    *prometheus.GaugeVec
}

type running struct {
	job    Job
	status Status
	// running and drilling are set while a scheduled run (with its retries) or drill
	// of the job is under way: a next time that comes meanwhile is skipped, not queued.
	running, drilling bool
}

// NewScheduler makes a scheduler whose metrics are registered with reg (nil: none);
// it keeps the restore drills' outcomes in st (nil: in memory).
func NewScheduler(st *store.Store, reg prometheus.Registerer, log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.Default()
	}
	labels := []string{"app", "name"}
	s := &Scheduler{st: st, log: log, Retries: 3, Backoff: 30 * time.Second, now: time.Now, jobs: map[string]*running{}, wake: make(chan struct{}, 1),
		lastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_backup_last_success_timestamp_seconds", Help: "When the newest whole archive of the backup was written (Unix time)."}, labels),
		lastRn: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_backup_last_run_success", Help: "1 when the backup's last run (with its retries) wrote an archive, 0 when it failed."}, labels),
		every:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_backup_interval_seconds", Help: "The time between two scheduled runs of the backup."}, labels),
		size:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_backup_last_size_bytes", Help: "The size of the backup's newest archive."}, labels),
		took:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_backup_last_duration_seconds", Help: "How long the backup's newest archive took to write."}, labels),
		vOK:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_backup_last_verify_success", Help: "1 when the backup's last restore drill restored its newest archive and the check passed, 0 when it failed."}, labels),
		vAt:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_backup_last_verify_timestamp_seconds", Help: "When the backup's last restore drill ran (Unix time)."}, labels),
	}
	if reg != nil {
		reg.MustRegister(s.lastOK, s.lastRn, s.every, s.size, s.took, s.vOK, s.vAt)
	}
	return s
}

func key(app, name string) string { return app + "/" + name }

// Set adds or replaces a job; the newest archive in its target counts as its last
// success.
func (s *Scheduler) Set(ctx context.Context, j Job) {
	r := &running{job: j, status: Status{App: j.App, Name: j.Name}}
	if objs, err := j.Target.List(ctx, j.Prefix); err == nil && len(objs) > 0 {
		o := objs[len(objs)-1]
		r.status.LastSuccess, r.status.LastObject = o.Time, &o
		s.record(j, o)
	}
	if j.Schedule != nil {
		r.status.Next = j.Schedule.Next(s.now())
		s.every.WithLabelValues(j.App, j.Name).Set(j.Every.Seconds())
	}
	if j.Verify != nil {
		r.status.NextVerify = j.VerifySchedule.Next(s.now())
		if s.st != nil {
			var v store.BackupVerify
			if err := s.st.Get(ctx, store.BackupVerifyKey(j.App, j.Name), &v); err == nil {
				r.status.LastVerify = &v
				s.recordVerify(j, v)
			}
		}
	}
	s.mu.Lock()
	s.jobs[key(j.App, j.Name)] = r
	s.mu.Unlock()
	s.poke()
}

// Keep drops the jobs that keep is false for, and their metrics.
func (s *Scheduler) Keep(keep func(app, name string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range s.jobs {
		if !keep(r.job.App, r.job.Name) {
			delete(s.jobs, k)
			for _, g := range []*prometheus.GaugeVec{s.lastOK, s.lastRn, s.every, s.size, s.took, s.vOK, s.vAt} {
				g.DeleteLabelValues(r.job.App, r.job.Name)
			}
		}
	}
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Status is the state of every job, or of app's.
func (s *Scheduler) Status(app string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for _, r := range s.jobs {
		if app == "" || r.job.App == app {
			out = append(out, r.status)
		}
	}
	return out
}

// Job is the job app/name.
func (s *Scheduler) Job(app, name string) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.jobs[key(app, name)]
	if !ok {
		return Job{}, false
	}
	return r.job, true
}

// Run runs the scheduled jobs until ctx ends, each in a goroutine of its own (the
// archives themselves are written one at a time), so that one job's retries do not hold
// the others back; it returns once those runs ended (ctx ends them, leaving no partial
// archive).
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		next, due, verify := s.due()
		for _, j := range due {
			wg.Go(func() {
				defer s.idle(j, false)
				s.runWithRetries(ctx, j)
			})
		}
		for _, j := range verify {
			wg.Go(func() {
				defer s.idle(j, true)
				_, _ = s.VerifyNow(ctx, j, "")
			})
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(s.now()), 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// due are the jobs whose backup's time came and those whose drill's time came, with
// their next times set, and the earliest next time of the others.
func (s *Scheduler) due() (next time.Time, due, verify []Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, r := range s.jobs {
		if r.job.Schedule != nil {
			if !r.status.Next.After(now) {
				if !r.running {
					due = append(due, r.job)
					r.running = true
				}
				r.status.Next = r.job.Schedule.Next(now)
			}
			soonest(r.status.Next)
		}
		if r.job.Verify != nil {
			if !r.status.NextVerify.After(now) {
				if !r.drilling {
					verify = append(verify, r.job)
					r.drilling = true
				}
				r.status.NextVerify = r.job.VerifySchedule.Next(now)
			}
			soonest(r.status.NextVerify)
		}
	}
	return next, due, verify
}

// idle marks j's scheduled run (or drill) as ended.
func (s *Scheduler) idle(j Job, drill bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.jobs[key(j.App, j.Name)]; ok {
		if drill {
			r.drilling = false
		} else {
			r.running = false
		}
	}
}

// VerifyNow runs j's restore drill on archive ("": the newest), records its outcome and
// returns it; the error is the drill's failure.
func (s *Scheduler) VerifyNow(ctx context.Context, j Job, archive string) (store.BackupVerify, error) {
	if j.Verify == nil {
		return store.BackupVerify{}, fmt.Errorf("backup %s of %s has no verify in its spec", j.Name, j.App)
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()
	v := store.BackupVerify{Archive: archive, Time: s.now().UTC()}
	var err error
	if v.Archive == "" {
		var objs []Object
		if objs, err = j.Target.List(ctx, j.Prefix); err == nil && len(objs) == 0 {
			err = fmt.Errorf("no archive to restore yet in %s", j.Target)
		} else if err == nil {
			v.Archive = objs[len(objs)-1].Name
		}
	}
	if err == nil {
		v.Message, err = j.Verify(ctx, v.Archive)
	}
	if err != nil {
		v.Message = err.Error()
	}
	v.OK = err == nil
	s.recordVerify(j, v)
	s.mu.Lock()
	if r, ok := s.jobs[key(j.App, j.Name)]; ok {
		r.status.LastVerify = &v
	}
	s.mu.Unlock()
	if s.st != nil {
		if perr := s.st.Put(context.WithoutCancel(ctx), store.BackupVerifyKey(j.App, j.Name), v); perr != nil {
			s.log.Warn("record a restore drill", "app", j.App, "backup", j.Name, "err", perr)
		}
	}
	if err != nil {
		s.log.Error("restore drill failed", "app", j.App, "backup", j.Name, "archive", v.Archive, "err", err)
		return v, err
	}
	s.log.Info("restore drill passed", "app", j.App, "backup", j.Name, "archive", v.Archive, "found", v.Message)
	return v, nil
}

func (s *Scheduler) recordVerify(j Job, v store.BackupVerify) {
	ok := 0.0
	if v.OK {
		ok = 1
	}
	s.vOK.WithLabelValues(j.App, j.Name).Set(ok)
	s.vAt.WithLabelValues(j.App, j.Name).Set(float64(v.Time.UnixMilli()) / 1000)
}

func (s *Scheduler) runWithRetries(ctx context.Context, j Job) {
	wait := s.Backoff
	for try := 0; ; try++ {
		_, err := s.RunNow(ctx, j)
		if err == nil || try >= s.Retries || ctx.Err() != nil {
			return
		}
		s.log.Warn("backup failed; trying again", "app", j.App, "backup", j.Name, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// RunNow writes one archive of j to its target, then removes what its retention no
// longer keeps.
func (s *Scheduler) RunNow(ctx context.Context, j Job) (Object, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	at := s.now().UTC()
	name := j.Prefix + at.Format("20060102T150405Z") + j.Ext
	o, err := j.Target.Put(ctx, name, func(w io.Writer) error { return j.Write(ctx, w) })
	s.mu.Lock()
	if r, ok := s.jobs[key(j.App, j.Name)]; ok {
		r.status.LastAttempt = at
		if err != nil {
			r.status.LastError = err.Error()
		} else {
			r.status.LastError, r.status.LastSuccess, r.status.LastObject = "", o.Time, &o
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.lastRn.WithLabelValues(j.App, j.Name).Set(0)
		s.log.Error("backup failed", "app", j.App, "backup", j.Name, "target", j.Target.String(), "err", err)
		return Object{}, err
	}
	s.record(j, o)
	s.lastRn.WithLabelValues(j.App, j.Name).Set(1)
	s.log.Info("backup written", "app", j.App, "backup", j.Name, "target", j.Target.String(), "archive", o.Name, "bytes", o.Size, "took", o.Took, "sha256", o.SHA256)
	if err := s.prune(ctx, j); err != nil {
		s.log.Warn("backup retention", "app", j.App, "backup", j.Name, "err", err)
	}
	return o, nil
}

func (s *Scheduler) record(j Job, o Object) {
	s.lastOK.WithLabelValues(j.App, j.Name).Set(float64(o.Time.UnixMilli()) / 1000)
	s.size.WithLabelValues(j.App, j.Name).Set(float64(o.Size))
	s.took.WithLabelValues(j.App, j.Name).Set(o.Took.Seconds())
}

func (s *Scheduler) prune(ctx context.Context, j Job) error {
	objs, err := j.Target.List(ctx, j.Prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range j.Retain.expired(objs) {
		errs = append(errs, j.Target.Remove(ctx, o.Name))
	}
	return errors.Join(errs...)
}

// ParseSchedule reads a cron schedule: five fields (minute hour day-of-month month
// day-of-week) or a descriptor (@daily, @weekly, @every 6h), as robfig/cron reads
// them, and says the time between two runs.
func ParseSchedule(text string) (cron.Schedule, time.Duration, error) {
	sch, err := cron.ParseStandard(text)
	if err != nil {
		return nil, 0, fmt.Errorf("schedule %q: %w (want five fields, minute hour day month weekday, like \"0 3 * * *\", or @daily, @weekly, @every 6h)", text, err)
	}
	a := sch.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return sch, sch.Next(a).Sub(a), nil
}
