package incident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/store"
)

// ErrNotFound is returned for an incident id that does not exist.
var ErrNotFound = errors.New("no such incident")

// ErrState is returned for a change the incident's status does not allow.
var ErrState = errors.New("not allowed in this state")

// Actions are what runbooks do to apps; the controller provides them.
type Actions interface {
	// Rollback makes the app's last good revision serve again and returns it.
	Rollback(ctx context.Context, app string) (int, error)
	// Restart replaces every instance of the app, one at a time.
	Restart(ctx context.Context, app string) error
	// RestartInstance replaces one instance.
	RestartInstance(ctx context.Context, app, id string) error
	// Scale sets the app's instance count to to, or changes it by (when to is 0); it
	// returns the new count.
	Scale(ctx context.Context, app string, to, by int) (int, error)
	// InRollout reports whether a rollout of the app is in progress.
	InRollout(ctx context.Context, app string) (bool, error)
	// Instances lists the app's running instances.
	Instances(app string) []Instance
}

// Instance is what a profile step needs of an instance.
type Instance struct {
	ID        string
	AdminAddr string
}

// Options configure a Manager.
type Options struct {
	Store   *store.Store
	Config  *Config
	Actions Actions
	// Dir keeps what runbooks capture (DATA/incidents/ID/…).
	Dir        string
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Client sends escalation pages and webhook steps (default: 10s timeout).
	Client *http.Client
	// Firing asks the Alertmanager whether an alert (by fingerprint) still fires; ok is
	// false when it cannot tell (nil: never asked). An open incident none of whose
	// alerts fires for StaleAfter is resolved: its alerts ended while tend was down,
	// and the Alertmanager, which keeps alerts in memory, will never say so.
	Firing     func(fingerprint string) (firing, ok bool)
	StaleAfter time.Duration
	// Mask replaces the values of app's secrets in a step's output before it goes into
	// the timeline (nil: kept as it is).
	Mask func(ctx context.Context, app, text string) string
}

// Manager owns incidents: it opens them from Alertmanager notifications, escalates them,
// runs runbooks and records everything in their timelines, in the store.
type Manager struct {
	o       Options
	log     *slog.Logger
	actions *prometheus.CounterVec

	mu      sync.Mutex
	open    map[int]*Incident // unresolved incidents, by id
	quiet   map[int]time.Time // open incidents none of whose alerts fires, since when
	next    int
	rem     Remediation
	running sync.WaitGroup
	closed  bool
}

// Remediation is the persistent remediation state: the kill switch and the actions
// taken, which the hourly limit and cooldowns count.
type Remediation struct {
	Enabled   bool      `json:"enabled"`
	ChangedBy string    `json:"changedBy,omitempty"`
	ChangedAt time.Time `json:"changedAt,omitzero"`
	// Actions are the times of the actions taken per app, the last hour's.
	Actions map[string][]time.Time `json:"actions,omitempty"`
	// LastRun is when each runbook last ran for each app ("runbook/app").
	LastRun map[string]time.Time `json:"lastRun,omitempty"`
}

// Open loads the open incidents and the remediation state from the store.
func Open(ctx context.Context, o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Config == nil {
		c, _ := LoadConfig("")
		o.Config = c
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = 2 * time.Minute
	}
	m := &Manager{o: o, log: o.Logger, open: map[int]*Incident{}, quiet: map[int]time.Time{}}
	recs, err := o.Store.Records(ctx, store.IncidentsPrefix)
	if err != nil {
		return nil, fmt.Errorf("load incidents: %w", err)
	}
	all, maxID, err := m.decodeIncidents(recs, true)
	if err != nil {
		return nil, fmt.Errorf("load incidents: %w", err)
	}
	m.next = maxID
	for i := range all {
		if all[i].Open() {
			m.open[all[i].ID] = &all[i]
		}
	}
	recs, err = o.Store.Records(ctx, store.RemediationKey)
	if err != nil {
		return nil, fmt.Errorf("load the remediation state: %w", err)
	}
	m.rem = Remediation{Enabled: true}
	for _, kv := range recs {
		if kv.Key != store.RemediationKey {
			continue
		}
		m.rem = Remediation{}
		var newer *store.FormatError
		if err := store.Decode(kv.Key, kv.Value, &m.rem); errors.As(err, &newer) {
			return nil, fmt.Errorf("load the remediation state: %w", err)
		} else if err != nil {
			m.rem = m.damagedRemediation(kv, err)
		}
	}
	m.actions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tend_remediation_actions_total",
		Help: "Runbook steps, by app, runbook, kind and result (ok, failed, skipped, dry-run)."}, []string{"app", "runbook", "kind", "result"})
	if o.Registerer != nil {
		o.Registerer.MustRegister(m.actions, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tend_incidents_open",
			Help: "Incidents not resolved yet."}, func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			return float64(len(m.open))
		}))
	}
	return m, nil
}

// Config is the configuration the manager runs with.
func (m *Manager) Config() *Config { return m.o.Config }

// Run escalates unacknowledged incidents, re-triggers acknowledgements that timed out
// and judges runbook runs, once a second until ctx ends; then it waits for running
// runbooks.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.closed = true
			m.mu.Unlock()
			m.running.Wait()
			return
		case now := <-t.C:
			m.tick(ctx, now)
		}
	}
}

// Receive takes one Alertmanager webhook notification (version 4) for tend's receiver.
func (m *Manager) Receive(ctx context.Context, msg Message) error {
	if msg.GroupKey == "" {
		return errors.New("an Alertmanager notification needs a groupKey")
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var in *Incident
	for _, o := range m.open {
		if o.Key == msg.GroupKey {
			in = o
		}
	}
	if in == nil {
		if msg.Status != "firing" {
			return nil // the group resolved after its incident was closed by hand
		}
		in = m.newIncident(msg, now)
	}
	var fired []Alert
	for _, a := range msg.Alerts {
		i := sort.Search(len(in.Alerts), func(i int) bool { return in.Alerts[i].Fingerprint >= a.Fingerprint })
		known := i < len(in.Alerts) && in.Alerts[i].Fingerprint == a.Fingerprint
		was := ""
		if known {
			was = in.Alerts[i].Status
			in.Alerts[i] = a
		} else {
			in.Alerts = append(in.Alerts[:i], append([]Alert{a}, in.Alerts[i:]...)...)
		}
		switch {
		case a.Status == "firing" && was != "firing":
			e := in.add(now, KindFired, Describe(a.Labels))
			e.Output = a.Annotations["summary"]
			fired = append(fired, a)
		case a.Status == "resolved" && was == "firing":
			in.add(now, KindCleared, Describe(a.Labels))
		case a.Status == "resolved" && was == "":
			in.add(now, KindCleared, Describe(a.Labels)+" (it fired and resolved between notifications)")
		}
	}
	if msg.Status == "resolved" && in.Open() {
		m.resolve(in, now, "", "every alert of the group resolved")
	}
	if in.Open() {
		m.startRunbooks(in, fired) // before the save, which then holds the entries it added
	}
	return m.save(ctx, in)
}

func (m *Manager) newIncident(msg Message, now time.Time) *Incident {
	m.next++
	labels := msg.CommonLabels
	if labels == nil {
		labels = msg.GroupLabels
	}
	in := &Incident{ID: m.next, Key: msg.GroupKey, Status: Triggered, Labels: labels, CreatedAt: now, Since: now,
		Severity: cmpOr(labels["severity"], "warning"), App: cmpOr(labels["app"], labels["service"]), Revision: labels["revision"]}
	in.Title = msg.CommonAnnotations["summary"]
	if in.Title == "" {
		in.Title = Describe(msg.GroupLabels)
	}
	for _, p := range m.o.Config.Escalation {
		if Matches(p.Match, labels) {
			in.Escalation = p.Name
			break
		}
	}
	text := fmt.Sprintf("opened by the Alertmanager (group %s, %d alerts)", Describe(msg.GroupLabels), len(msg.Alerts))
	if in.Escalation != "" {
		text += "; escalation policy " + strconv.Quote(in.Escalation)
	}
	in.add(now, KindOpened, text)
	m.open[in.ID] = in
	return in
}

func (m *Manager) resolve(in *Incident, now time.Time, by, why string) {
	in.Status = Resolved
	in.ResolvedAt = &now
	e := in.add(now, KindResolved, why)
	e.By = by
	delete(m.open, in.ID)
	delete(m.quiet, in.ID)
	for i := range in.Runs {
		r := &in.Runs[i]
		if r.Result != "pending" {
			continue
		}
		r.Result = "failed"
		if within := m.successWithin(r.Runbook); now.Sub(r.At) <= within {
			r.Result = "succeeded"
		}
	}
}

// File is the path of something a runbook captured for incident id (a name from its
// timeline's Files).
func (m *Manager) File(id int, name string) (string, error) {
	if name != filepath.Base(name) || name == "." || name == ".." {
		return "", fmt.Errorf("bad file name %q", name)
	}
	path := filepath.Join(m.o.Dir, strconv.Itoa(id), name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("incident %d has no file %s: %w", id, name, ErrNotFound)
	}
	return path, nil
}

// Ack acknowledges an incident: escalation stops (until AckTimeout, when the policy has one).
func (m *Manager) Ack(ctx context.Context, id int, by, note string) (*Incident, error) {
	return m.change(ctx, id, func(in *Incident, now time.Time) error {
		if in.Status != Triggered {
			return fmt.Errorf("incident %d is %s: %w", id, in.Status, ErrState)
		}
		in.Status, in.AckedAt, in.AckedBy = Acknowledged, &now, by
		e := in.add(now, KindAck, cmpOr(note, "acknowledged"))
		e.By = by
		return nil
	})
}

// Resolve closes an incident by hand. If its alerts still fire, the Alertmanager's next
// notification for the group opens a new incident.
func (m *Manager) Resolve(ctx context.Context, id int, by, note string) (*Incident, error) {
	return m.change(ctx, id, func(in *Incident, now time.Time) error {
		if !in.Open() {
			return fmt.Errorf("incident %d is already resolved: %w", id, ErrState)
		}
		m.resolve(in, now, by, cmpOr(note, "resolved by hand"))
		return nil
	})
}

// Comment adds a note to an incident's timeline.
func (m *Manager) Comment(ctx context.Context, id int, by, text string) (*Incident, error) {
	if text == "" {
		return nil, errors.New("a comment needs text")
	}
	return m.change(ctx, id, func(in *Incident, now time.Time) error {
		e := in.add(now, KindComment, text)
		e.By = by
		return nil
	})
}

func (m *Manager) change(ctx context.Context, id int, fn func(*Incident, time.Time) error) (*Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.open[id]
	if !ok {
		var err error
		if in, err = m.load(ctx, id); err != nil {
			return nil, err
		}
	}
	if err := fn(in, time.Now()); err != nil {
		return nil, err
	}
	if err := m.save(ctx, in); err != nil {
		return nil, err
	}
	c := *in
	return &c, nil
}

// Get returns one incident.
func (m *Manager) Get(ctx context.Context, id int) (*Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in, ok := m.open[id]; ok {
		c := *in
		return &c, nil
	}
	return m.load(ctx, id)
}

// List returns incidents, newest first: the open ones, or all with all.
func (m *Manager) List(ctx context.Context, all bool) ([]Incident, error) {
	recs, err := m.o.Store.Records(ctx, store.IncidentsPrefix)
	if err != nil {
		return nil, err
	}
	list, _, err := m.decodeIncidents(recs, false) // Open logged those that do not decode
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for _, in := range list {
		if all || in.Open() {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

func (m *Manager) load(ctx context.Context, id int) (*Incident, error) {
	var in Incident
	err := m.o.Store.Get(ctx, store.IncidentKey(id), &in)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("incident %d: %w (see tend incidents --all)", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("incident %d: %w (its record does not decode; tend server kept a copy of it in %s at start-up)", id, err,
			filepath.Join(m.o.Dir, DamagedDir, "incident-"+strconv.Itoa(id)+".json"))
	}
	return &in, nil
}

// save writes an incident; the caller holds m.mu.
func (m *Manager) save(ctx context.Context, in *Incident) error {
	if err := m.o.Store.Put(context.WithoutCancel(ctx), store.IncidentKey(in.ID), in); err != nil {
		return fmt.Errorf("save incident %d: %w", in.ID, err)
	}
	return nil
}

// tick escalates, re-triggers and judges runs that outlived their successWithin.
func (m *Manager) tick(ctx context.Context, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, in := range m.open {
		changed := false
		if p := m.policy(in.Escalation); p != nil {
			if in.Status == Acknowledged && p.AckTimeout > 0 && in.AckedAt != nil && now.Sub(*in.AckedAt) >= p.AckTimeout {
				in.Status, in.AckedAt, in.AckedBy, in.Level, in.Since = Triggered, nil, "", 0, now
				in.add(now, KindRetrigger, fmt.Sprintf("acknowledged %s ago and not resolved: triggered again", p.AckTimeout))
				changed = true
			}
			for in.Status == Triggered && in.Level < len(p.Levels) && now.Sub(in.Since) >= p.Levels[in.Level].After {
				m.page(ctx, in, p, now)
				in.Level++
				changed = true
			}
		}
		if m.stale(in, now) {
			m.resolve(in, now, "", fmt.Sprintf("none of its alerts has fired in the Alertmanager for %s: they ended while tend was not watching (a restart)", m.o.StaleAfter))
			changed = true
		}
		for i := range in.Runs {
			r := &in.Runs[i]
			if r.Result == "pending" && now.Sub(r.At) > m.successWithin(r.Runbook) {
				r.Result = "failed"
				in.add(now, KindAction, fmt.Sprintf("runbook %q did not resolve the incident within %s", r.Runbook, m.successWithin(r.Runbook)))
				changed = true
			}
		}
		if changed {
			if err := m.save(ctx, in); err != nil {
				m.log.Error("save incident", "id", in.ID, "err", err)
			}
		}
	}
}

// stale reports whether none of an open incident's alerts has fired for StaleAfter.
func (m *Manager) stale(in *Incident, now time.Time) bool {
	if m.o.Firing == nil {
		return false
	}
	for _, a := range in.Firing() {
		if firing, ok := m.o.Firing(a.Fingerprint); firing || !ok {
			delete(m.quiet, in.ID)
			return false
		}
	}
	since, ok := m.quiet[in.ID]
	if !ok {
		m.quiet[in.ID] = now
		return false
	}
	if now.Sub(since) < m.o.StaleAfter {
		return false
	}
	delete(m.quiet, in.ID)
	return true
}

func (m *Manager) policy(name string) *Policy {
	for i := range m.o.Config.Escalation {
		if m.o.Config.Escalation[i].Name == name {
			return &m.o.Config.Escalation[i]
		}
	}
	return nil
}

func (m *Manager) successWithin(runbook string) time.Duration {
	for _, rb := range m.o.Config.Runbooks {
		if rb.Name == runbook {
			return rb.SuccessWithin
		}
	}
	return 5 * time.Minute
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Remediation returns the kill switch and the actions taken.
func (m *Manager) Remediation() Remediation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rem.clone()
}

// clone is a copy that shares no map or slice with r, for a caller outside the lock.
func (r Remediation) clone() Remediation {
	c := r
	c.Actions = make(map[string][]time.Time, len(r.Actions))
	for app, at := range r.Actions {
		c.Actions[app] = slices.Clone(at)
	}
	c.LastRun = maps.Clone(r.LastRun)
	return c
}

// SetRemediation turns remediation on or off for every runbook (the kill switch).
func (m *Manager) SetRemediation(ctx context.Context, on bool, by string) (Remediation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rem.Enabled, m.rem.ChangedBy, m.rem.ChangedAt = on, by, time.Now()
	if err := m.o.Store.Put(ctx, store.RemediationKey, m.rem); err != nil {
		return m.rem.clone(), fmt.Errorf("save the remediation state: %w", err)
	}
	return m.rem.clone(), nil
}
