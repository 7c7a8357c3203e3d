package monitor

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
)

// TargetHealth is what the last scrape of a target found, as /prometheus/api/v1/targets shows it.
type TargetHealth struct {
	Labels     map[string]string `json:"labels"`
	ScrapeURL  string            `json:"scrapeUrl"`
	Health     string            `json:"health"` // up | down | unknown
	LastError  string            `json:"lastError"`
	LastScrape time.Time         `json:"lastScrape"`
	Duration   float64           `json:"lastScrapeDuration"`
	Samples    int               `json:"samples"`
}

// seriesRef is a series appended by the last scrape of a target.
type seriesRef = labels.Labels

// maxScrapeBytes bounds what one scrape reads: an instance that serves more is cut off
// with an error rather than filling tend's memory.
const maxScrapeBytes = 16 << 20

type scrapeClient struct{ http *http.Client }

func newScrapeClient(interval time.Duration) *scrapeClient {
	timeout := min(interval, 10*time.Second)
	return &scrapeClient{http: &http.Client{Timeout: timeout, Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     3 * interval,
	}}}
}

// scrapeAccept is the Accept header of a scrape: delimited protobuf, else the text format.
var scrapeAccept = string(expfmt.NewFormat(expfmt.TypeProtoDelim)) + ";q=0.7," + string(expfmt.NewFormat(expfmt.TypeTextPlain)) + ";q=0.3"

// fetch reads a target's metrics endpoint into metric families.
func (c *scrapeClient) fetch(ctx context.Context, url string) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// protobuf first, as Prometheus asks: it carries the histograms' exemplars (kit's
	// trace ids), which the text format cannot
	req.Header.Set("Accept", scrapeAccept)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	dec := expfmt.NewDecoder(io.LimitReader(resp.Body, maxScrapeBytes), expfmt.ResponseFormat(resp.Header))
	var mfs []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if err == io.EOF {
				return mfs, nil
			}
			return mfs, fmt.Errorf("GET %s: %w", url, err)
		}
		mfs = append(mfs, mf)
	}
}

// scrapeSelf records tend's own registry (gateway, process, store) as job "tend".
func (m *Monitor) scrapeSelf(ctx context.Context, now time.Time) {
	if m.o.Self == nil {
		return
	}
	start := time.Now()
	mfs, err := m.o.Self.Gather()
	m.record(ctx, scrape{key: "tend", labels: map[string]string{"job": "tend"}, honor: true,
		families: mfs, err: err, at: now, took: time.Since(start)})
}

// scrapeTargets scrapes every target once, in parallel, and marks the series of
// targets that went away as stale.
func (m *Monitor) scrapeTargets(ctx context.Context, now time.Time) {
	var targets []Target
	if m.o.Targets != nil {
		targets = m.o.Targets(ctx)
	}
	seen := map[string]bool{"tend": true}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, t := range targets {
		key := t.App + "/" + t.Instance
		seen[key] = true
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			proc := append(procSamples(t.PID), procSample{"tend_instance_restarts_total", float64(t.Restarts)})
			if t.MemoryLimit > 0 {
				proc = append(proc, procSample{"tend_instance_memory_limit_bytes", float64(t.MemoryLimit)})
			}
			sc := scrape{key: key, url: t.URL, at: now, proc: proc,
				labels: map[string]string{"job": t.App, "app": t.App, "revision": strconv.Itoa(t.Revision), "instance": t.Instance, "role": t.Role}}
			if t.URL != "" {
				sc.families, sc.err = m.client.fetch(ctx, t.URL)
			}
			sc.took = time.Since(start)
			m.record(ctx, sc)
		}()
	}
	wg.Wait()
	m.markGone(seen, now)
}

// scrape is what one scrape of a target brought back.
type scrape struct {
	key    string
	labels map[string]string // the target's labels, added to every series
	// honor keeps scraped labels that collide with the target's (tend's own metrics)
	honor    bool
	url      string
	families []*dto.MetricFamily
	proc     []procSample
	err      error
	at       time.Time
	took     time.Duration
}

// record appends one scrape's samples with the target's labels, plus up and
// scrape_duration_seconds, and remembers the target's health.
func (m *Monitor) record(ctx context.Context, sc scrape) {
	ts := sc.at.UnixMilli()
	app := m.db.Appender(ctx)
	var kept []seriesRef
	add := func(l labels.Labels, v float64) storage.SeriesRef {
		ref, err := app.Append(0, l, ts, v)
		if err == nil {
			kept = append(kept, l)
		}
		return ref
	}
	b := labels.NewScratchBuilder(8)
	for _, mf := range sc.families {
		for _, s := range familySamples(mf) {
			l := withTarget(&b, s.name, s.labels, sc.labels, sc.honor)
			ref := add(l, s.value)
			if s.exemplar != nil && ref != 0 {
				// the same exemplar comes again until a newer one replaces it: the
				// storage refuses the duplicate, which is all right
				_, _ = app.AppendExemplar(ref, l, exemplarOf(s.exemplar, ts))
			}
		}
	}
	for _, s := range sc.proc {
		add(withTarget(&b, s.name, nil, sc.labels, false), s.value)
	}
	// a target without an endpoint (only /proc) has no up: it says nothing either way
	if sc.url != "" || sc.honor {
		up := 1.0
		if sc.err != nil {
			up = 0
		}
		add(withTarget(&b, "up", nil, sc.labels, false), up)
	}
	add(withTarget(&b, "scrape_duration_seconds", nil, sc.labels, false), sc.took.Seconds())
	m.noteStore(sc.key, app.Commit())
	h := &TargetHealth{Labels: sc.labels, ScrapeURL: sc.url, Health: "up", LastScrape: sc.at, Duration: sc.took.Seconds(), Samples: len(kept)}
	if sc.err != nil {
		h.Health, h.LastError = "down", sc.err.Error()
	} else if sc.url == "" && !sc.honor {
		h.Health = "unknown"
		h.LastError = "the app declares no metrics endpoint; only CPU and memory from /proc are recorded"
	}
	m.mu.Lock()
	for _, mf := range sc.families {
		m.meta[mf.GetName()] = Metadata{Type: strings.ToLower(mf.GetType().String()), Help: mf.GetHelp(), Unit: mf.GetUnit()}
	}
	m.health[sc.key] = h
	prev := m.series[sc.key]
	m.series[sc.key] = kept
	m.mu.Unlock()
	m.markStale(ctx, prev, kept, ts)
}

// noteStore logs when storing samples starts failing (a full disk, say) and when it works
// again, not at every scrape.
func (m *Monitor) noteStore(key string, err error) {
	if err != nil {
		if m.storeFailing.CompareAndSwap(false, true) {
			m.log.Warn("cannot store scraped metrics; scraping goes on and stores again once the database can write", "target", key, "err", err)
		}
		return
	}
	if m.storeFailing.CompareAndSwap(true, false) {
		m.log.Info("scraped metrics are stored again")
	}
}

// markStale writes a stale marker for every series the previous scrape had and this one
// lacks, as Prometheus does, so that queries stop seeing it at once.
func (m *Monitor) markStale(ctx context.Context, prev, now []seriesRef, ts int64) {
	if len(prev) == 0 {
		return
	}
	have := make(map[uint64]bool, len(now))
	for _, l := range now {
		have[l.Hash()] = true
	}
	var app storage.Appender
	for _, l := range prev {
		if have[l.Hash()] {
			continue
		}
		if app == nil {
			app = m.db.Appender(ctx)
		}
		_, _ = app.Append(0, l, ts, math.Float64frombits(value.StaleNaN))
	}
	if app != nil {
		_ = app.Commit()
	}
}

// markGone ends the series and the health of targets that are no longer listed.
func (m *Monitor) markGone(seen map[string]bool, now time.Time) {
	m.mu.Lock()
	var gone [][]seriesRef
	for key, s := range m.series {
		if !seen[key] {
			gone = append(gone, s)
			delete(m.series, key)
			delete(m.health, key)
		}
	}
	m.mu.Unlock()
	for _, s := range gone {
		m.markStale(context.Background(), s, nil, now.UnixMilli())
	}
}

// Targets returns the health of every target as last scraped.
func (m *Monitor) Targets() []TargetHealth {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TargetHealth, 0, len(m.health))
	for _, h := range m.health {
		out = append(out, *h)
	}
	return out
}

// withTarget builds a series' labels: the scraped ones plus the target's. A scraped label
// that collides with a target label becomes exported_<name>, as in Prometheus, unless
// honor is set (tend's own metrics, whose app and instance labels mean what they say).
func withTarget(b *labels.ScratchBuilder, name string, scraped []*dto.LabelPair, target map[string]string, honor bool) labels.Labels {
	b.Reset()
	b.Add(labels.MetricName, name)
	has := map[string]bool{}
	for _, lp := range scraped {
		n := lp.GetName()
		if _, clash := target[n]; clash && !honor {
			n = "exported_" + n
		}
		has[n] = true
		b.Add(n, lp.GetValue())
	}
	for k, v := range target {
		if !has[k] {
			b.Add(k, v)
		}
	}
	b.Sort()
	return b.Labels()
}

type sample struct {
	name     string
	labels   []*dto.LabelPair
	value    float64
	exemplar *dto.Exemplar // a histogram bucket's (nil: none)
}

// familySamples flattens a metric family into the series Prometheus would store for it:
// counters, gauges and untyped as they are; summaries as quantiles, _sum and _count;
// classic histograms as _bucket{le}, _sum and _count.
func familySamples(mf *dto.MetricFamily) []sample {
	name := mf.GetName()
	var out []sample
	with := func(base []*dto.LabelPair, k, v string) []*dto.LabelPair {
		l := make([]*dto.LabelPair, len(base), len(base)+1)
		copy(l, base)
		return append(l, &dto.LabelPair{Name: &k, Value: &v})
	}
	for _, mt := range mf.GetMetric() {
		ls := mt.GetLabel()
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			out = append(out, sample{name, ls, mt.GetCounter().GetValue(), nil})
		case dto.MetricType_GAUGE:
			out = append(out, sample{name, ls, mt.GetGauge().GetValue(), nil})
		case dto.MetricType_UNTYPED:
			out = append(out, sample{name, ls, mt.GetUntyped().GetValue(), nil})
		case dto.MetricType_SUMMARY:
			s := mt.GetSummary()
			for _, q := range s.GetQuantile() {
				out = append(out, sample{name, with(ls, "quantile", formatFloat(q.GetQuantile())), q.GetValue(), nil})
			}
			out = append(out, sample{name + "_sum", ls, s.GetSampleSum(), nil}, sample{name + "_count", ls, float64(s.GetSampleCount()), nil})
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			h := mt.GetHistogram()
			inf := false
			for _, bk := range h.GetBucket() {
				inf = inf || math.IsInf(bk.GetUpperBound(), 1)
				out = append(out, sample{name + "_bucket", with(ls, "le", formatFloat(bk.GetUpperBound())), float64(bk.GetCumulativeCount()), bk.GetExemplar()})
			}
			if !inf {
				out = append(out, sample{name + "_bucket", with(ls, "le", "+Inf"), float64(h.GetSampleCount()), nil})
			}
			out = append(out, sample{name + "_sum", ls, h.GetSampleSum(), nil}, sample{name + "_count", ls, float64(h.GetSampleCount()), nil})
		}
	}
	return out
}

// exemplarOf is a scraped exemplar as the TSDB keeps it (at the scrape's time when it
// has none of its own).
func exemplarOf(e *dto.Exemplar, scraped int64) exemplar.Exemplar {
	b := labels.NewScratchBuilder(len(e.GetLabel()))
	for _, l := range e.GetLabel() {
		b.Add(l.GetName(), l.GetValue())
	}
	b.Sort()
	ts := scraped
	if e.GetTimestamp() != nil {
		ts = e.GetTimestamp().AsTime().UnixMilli()
	}
	return exemplar.Exemplar{Labels: b.Labels(), Value: e.GetValue(), Ts: ts, HasTs: true}
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
