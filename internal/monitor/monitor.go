// Package monitor keeps tend's metrics: an embedded Prometheus TSDB in the data dir, filled by scraping instances, the gateway and tend itself, and answered with PromQL.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
)

// Defaults of the monitor; the server's flags override them.
const (
	DefaultInterval     = 5 * time.Second
	DefaultSelfInterval = time.Second
	DefaultRetention    = 15 * 24 * time.Hour
	DefaultMaxBytes     = 1 << 30
	// lookback is how far back an instant query looks for a series' last sample.
	lookback = 5 * time.Minute
)

// Target is one instance of an app whose metrics the monitor scrapes.
type Target struct {
	App      string `json:"app"`
	Revision int    `json:"revision"`
	Instance string `json:"instance"`
	// Role is "stable" or "canary".
	Role string `json:"role"`
	// URL is the instance's metrics endpoint; empty when it declares none (CPU and
	// memory are still recorded from /proc).
	URL string `json:"url,omitempty"`
	PID int    `json:"pid,omitempty"`
	// Restarts is how often tend restarted the instance (tend_instance_restarts_total);
	// MemoryLimit its resources.memory (tend_instance_memory_limit_bytes, when set).
	Restarts    int   `json:"restarts"`
	MemoryLimit int64 `json:"memoryLimit,omitempty"`
}

// Options configure a Monitor.
type Options struct {
	// Dir holds the TSDB (DATA/tsdb).
	Dir string
	// Retention drops blocks older than this; MaxBytes caps the TSDB's size on disk.
	Retention time.Duration
	MaxBytes  int64
	// Interval is how often every target is scraped.
	Interval time.Duration
	// SelfInterval is how often tend's own registry is recorded (default 1s, at most
	// Interval): the gateway's per-revision metrics are what canary analysis compares,
	// and a fine resolution gives it enough per-interval samples within seconds.
	SelfInterval time.Duration
	// Targets lists the instances to scrape now; called once per scrape round.
	Targets func(ctx context.Context) []Target
	// Self is tend's own registry (gateway, process, store), recorded as job "tend".
	Self   prometheus.Gatherer
	Logger *slog.Logger
}

// Monitor owns the TSDB, the scrape loop and the PromQL engine over them.
type Monitor struct {
	o      Options
	log    *slog.Logger
	db     *tsdb.DB
	engine *promql.Engine
	client *scrapeClient

	storeFailing atomic.Bool
	damaged      []DamagedBlock // moved aside at Open

	mu     sync.Mutex
	health map[string]*TargetHealth
	series map[string][]seriesRef // per target key, the series of its last scrape (for stale markers)
	meta   map[string]Metadata    // per metric family name, from the scrapes' TYPE and HELP
	rules  RuleGroups             // the alerting rules, for /api/v1/rules and /alerts (nil: none yet)
}

// maxExemplars is how many exemplars the TSDB keeps, newest first (in memory, about
// 100 bytes each, as Prometheus' --storage.exemplars.exemplars-limit).
const maxExemplars = 100_000

// Metadata is what a scrape said about a metric family.
type Metadata struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// Open opens (or creates) the TSDB in o.Dir.
func Open(o Options) (*Monitor, error) {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.SelfInterval <= 0 {
		o.SelfInterval = DefaultSelfInterval
	}
	o.SelfInterval = min(o.SelfInterval, o.Interval)
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the metrics dir %s: %w", o.Dir, err)
	}
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = o.Retention.Milliseconds()
	// the gateway's latency buckets carry the trace ids of kept requests
	opts.EnableExemplarStorage = true
	opts.MaxExemplars = maxExemplars
	if o.MaxBytes > 0 {
		opts.MaxBytes = o.MaxBytes
	}
	dir := filepath.Clean(o.Dir)
	damaged, err := moveDamagedBlocks(dir, o.Logger)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry() // the TSDB's own metrics: only read here, for its WAL repairs
	db, err := tsdb.Open(dir, o.Logger.With("component", "tsdb"), reg, opts, nil)
	if err != nil {
		return nil, &DamagedError{Dir: dir, Err: err}
	}
	if walRepairs(reg) > 0 {
		o.Logger.Warn("the metrics database's write-ahead log was damaged and was cut at the damage: the samples recorded after it are lost, the rest are kept; nothing to do",
			"wal", filepath.Join(dir, "wal"))
	}
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:               o.Logger.With("component", "promql"),
		MaxSamples:           50_000_000,
		Timeout:              2 * time.Minute,
		LookbackDelta:        lookback,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
	return &Monitor{o: o, log: o.Logger, db: db, engine: engine, client: newScrapeClient(o.Interval), damaged: damaged,
		health: map[string]*TargetHealth{}, series: map[string][]seriesRef{}, meta: map[string]Metadata{}}, nil
}

// DamagedBlocks lists the blocks Open found damaged and moved aside.
func (m *Monitor) DamagedBlocks() []DamagedBlock { return m.damaged }

// DB is the metrics database, for the rules manager to read and to write ALERTS to.
func (m *Monitor) DB() *tsdb.DB { return m.db }

// Engine is the PromQL engine over DB.
func (m *Monitor) Engine() *promql.Engine { return m.engine }

// SelfInterval is how often tend's own metrics are recorded: the resolution of the
// gateway's series that canary analysis compares.
func (m *Monitor) SelfInterval() time.Duration { return m.o.SelfInterval }

// Run scrapes tend itself every SelfInterval and every target each Interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	self := time.NewTicker(m.o.SelfInterval)
	defer self.Stop()
	targets := time.NewTicker(m.o.Interval)
	defer targets.Stop()
	now := time.Now()
	m.scrapeSelf(ctx, now)
	m.scrapeTargets(ctx, now)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-self.C:
			m.scrapeSelf(ctx, now)
		case now := <-targets.C:
			m.scrapeTargets(ctx, now)
		}
	}
}

// Close flushes and closes the TSDB.
func (m *Monitor) Close() error {
	if err := m.db.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("close the metrics database: %w", err)
	}
	return nil
}
