package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultRetention = 72 * time.Hour
	DefaultMaxBytes  = 1 << 30
	segmentMaxBytes  = 64 << 20
	segmentMaxAge    = time.Hour
	sweepEvery       = 30 * time.Second
)

// Options configure a Store.
type Options struct {
	// Dir holds the segment files (DATA/traces).
	Dir string
	// Retention drops spans older than this (0: DefaultRetention); MaxBytes drops the
	// oldest spans beyond this many bytes of segment files (0: DefaultMaxBytes).
	Retention time.Duration
	MaxBytes  int64
	Logger    *slog.Logger
	// Now is the clock (nil: time.Now), for tests of retention.
	Now func() time.Time
}

// Store keeps spans in append-only segment files, one JSON record a line, with an index
// in memory by trace id rebuilt from the files when it opens. Whole segments are
// dropped, oldest first, once they are older than the retention or the files exceed
// the size bound.
type Store struct {
	o   Options
	log *slog.Logger

	mu        sync.Mutex
	segments  []*segment // oldest first; the last is written
	traces    map[TraceID]*entry
	lastSweep time.Time
}

type segment struct {
	path   string
	f      *os.File
	own    bool // created by this store: appended to (an earlier process's never is)
	size   int64
	newest time.Time // the latest span end in it
	born   time.Time
}

// ref is where one span is: a segment, the offset of its line and the line's length.
type ref struct {
	seg *segment
	off int64
	n   int
}

// entry is what the index knows of one trace without reading its spans.
type entry struct {
	refs       []ref
	start, end time.Time
	spans      int
	errors     int
	root       *Span // the span without a parent, stripped of its attributes but the HTTP status
	services   []string
}

// Open opens or creates the store in o.Dir and indexes what its segments hold.
func Open(o Options) (*Store, error) {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the trace store %s: %w", o.Dir, err)
	}
	s := &Store{o: o, log: o.Logger, traces: map[TraceID]*entry{}}
	names, err := filepath.Glob(filepath.Join(o.Dir, "spans-*.jsonl"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names) // named by creation time: oldest first
	for _, name := range names {
		if err := s.load(name); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.sweepLocked()
	return s, nil
}

// load indexes one segment file; damaged lines (a crash mid-write) are skipped and said.
func (s *Store) load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open trace segment %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	seg := &segment{path: path, f: f, size: st.Size(), born: st.ModTime()}
	if ns, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "spans-"), ".jsonl"), 10, 64); err == nil {
		seg.born = time.Unix(0, ns)
	}
	br := bufio.NewReaderSize(f, 256<<10)
	var off int64
	damaged := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if sp, derr := decodeSpan(bytes.TrimSuffix(line, []byte("\n"))); derr != nil || !bytes.HasSuffix(line, []byte("\n")) {
				damaged++
			} else {
				s.indexLocked(sp, ref{seg: seg, off: off, n: len(line) - 1})
				seg.newest = later(seg.newest, sp.End)
			}
			off += int64(len(line))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("read trace segment %s: %w", path, err)
		}
	}
	if damaged > 0 {
		s.log.Warn("trace segment has damaged lines (a crash while writing?); they are skipped", "segment", path, "lines", damaged)
	}
	s.segments = append(s.segments, seg)
	return nil
}

// Add stores spans.
func (s *Store) Add(spans []Span) error {
	if len(spans) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seg, err := s.writableLocked()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	offs := make([]int, len(spans))
	for i, sp := range spans {
		offs[i] = buf.Len()
		if err := encodeSpan(&buf, sp); err != nil {
			return err
		}
	}
	if _, err := seg.f.WriteAt(buf.Bytes(), seg.size); err != nil {
		return fmt.Errorf("write spans to %s: %w", seg.path, err)
	}
	for i, sp := range spans {
		end := buf.Len()
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		s.indexLocked(sp, ref{seg: seg, off: seg.size + int64(offs[i]), n: end - offs[i] - 1})
		seg.newest = later(seg.newest, sp.End)
	}
	seg.size += int64(buf.Len())
	if s.o.Now().Sub(s.lastSweep) >= sweepEvery || s.sizeLocked() > s.o.MaxBytes {
		s.sweepLocked()
	}
	return nil
}

// writableLocked is the segment new spans go to, a new one when the last is full, old,
// or was written by an earlier process (never appended to after a crash).
func (s *Store) writableLocked() (*segment, error) {
	now := s.o.Now()
	if n := len(s.segments); n > 0 {
		last := s.segments[n-1]
		if last.own && last.size < segmentMaxBytes && now.Sub(last.born) < segmentMaxAge {
			return last, nil
		}
	}
	path := filepath.Join(s.o.Dir, fmt.Sprintf("spans-%019d.jsonl", now.UnixNano()))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create trace segment: %w", err)
	}
	seg := &segment{path: path, f: f, own: true, born: now}
	s.segments = append(s.segments, seg)
	return seg, nil
}

func (s *Store) indexLocked(sp Span, r ref) {
	e := s.traces[sp.Trace]
	if e == nil {
		e = &entry{start: sp.Start, end: sp.End}
		s.traces[sp.Trace] = e
	}
	e.refs = append(e.refs, r)
	e.spans++
	if sp.Start.Before(e.start) {
		e.start = sp.Start
	}
	e.end = later(e.end, sp.End)
	if sp.Error {
		e.errors++
	}
	if !slices.Contains(e.services, sp.App()) {
		e.services = append(e.services, sp.App())
	}
	// the root is the span without a parent, else (a client's own parent, or the root
	// not in yet) the earliest
	if e.root == nil || sp.Parent.IsZero() && !e.root.Parent.IsZero() ||
		sp.Parent.IsZero() == e.root.Parent.IsZero() && sp.Start.Before(e.root.Start) {
		root := sp
		root.Attributes, root.Resource = nil, nil
		if code, ok := sp.Attributes["http.response.status_code"]; ok {
			root.Attributes = map[string]any{"http.response.status_code": code}
		}
		e.root = &root
	}
}

func (s *Store) sizeLocked() int64 {
	var n int64
	for _, seg := range s.segments {
		n += seg.size
	}
	return n
}

// sweepLocked drops the segments beyond the retention and the size bound, oldest first.
func (s *Store) sweepLocked() {
	now := s.o.Now()
	s.lastSweep = now
	var gone []*segment
	for len(s.segments) > 0 {
		oldest := s.segments[0]
		expired := !oldest.newest.IsZero() && now.Sub(oldest.newest) > s.o.Retention || oldest.newest.IsZero() && oldest.size == 0 && len(s.segments) > 1
		if !expired && s.sizeLocked() <= s.o.MaxBytes {
			break
		}
		if len(s.segments) == 1 && !expired {
			break // the one being written: it alone may exceed a tiny bound
		}
		gone = append(gone, oldest)
		s.segments = s.segments[1:]
	}
	if len(gone) == 0 {
		return
	}
	for _, seg := range gone {
		seg.f.Close()
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("remove an expired trace segment", "segment", seg.path, "err", err)
		}
	}
	for id, e := range s.traces {
		e.refs = slices.DeleteFunc(e.refs, func(r ref) bool { return slices.Contains(gone, r.seg) })
		if len(e.refs) == 0 {
			delete(s.traces, id)
		}
	}
	s.log.Info("dropped old spans", "segments", len(gone), "retention", s.o.Retention.String(), "maxBytes", s.o.MaxBytes)
}

// Trace returns the spans of a trace, by start time; none when the store has none of it.
func (s *Store) Trace(id TraceID) ([]Span, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.traces[id]
	if e == nil {
		return nil, nil
	}
	spans := make([]Span, 0, len(e.refs))
	for _, r := range e.refs {
		buf := make([]byte, r.n)
		if _, err := r.seg.f.ReadAt(buf, r.off); err != nil {
			return nil, fmt.Errorf("read a span of trace %s from %s: %w", id, r.seg.path, err)
		}
		sp, err := decodeSpan(buf)
		if err != nil {
			return nil, fmt.Errorf("read a span of trace %s from %s: %w", id, r.seg.path, err)
		}
		spans = append(spans, sp)
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].Start.Before(spans[j].Start) })
	return spans, nil
}

// Query selects traces for Find.
type Query struct {
	// App keeps traces with a span of that app ("": all); Visible, when set, keeps
	// traces with a span of an app it says the caller may see.
	App     string
	Visible func(app string) bool
	// Since and Until bound the traces' start (zero: no bound).
	Since, Until time.Time
	// MinDuration keeps traces at least that long; Errors only traces with a failed span.
	MinDuration time.Duration
	Errors      bool
	// Limit is how many traces at most, newest first, or the longest first with
	// Slowest (0: 20).
	Limit   int
	Slowest bool
}

// Summary is a trace as a listing shows it.
type Summary struct {
	Trace    TraceID
	Start    time.Time
	Duration time.Duration
	// Root is the span without a parent (or the earliest, while it has not arrived).
	Root     Span
	Spans    int
	Errors   int
	Services []string
}

// Find lists the traces q selects, newest first.
func (s *Store) Find(q Query) []Summary {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Summary
	for id, e := range s.traces {
		switch {
		case q.App != "" && !slices.Contains(e.services, q.App),
			q.Visible != nil && !slices.ContainsFunc(e.services, q.Visible),
			!q.Since.IsZero() && e.start.Before(q.Since),
			!q.Until.IsZero() && e.start.After(q.Until),
			e.end.Sub(e.start) < q.MinDuration,
			q.Errors && e.errors == 0:
			continue
		}
		sum := Summary{Trace: id, Start: e.start, Duration: e.end.Sub(e.start), Spans: e.spans, Errors: e.errors, Services: slices.Clone(e.services)}
		if e.root != nil {
			sum.Root = *e.root
		}
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool {
		if q.Slowest && out[i].Duration != out[j].Duration {
			return out[i].Duration > out[j].Duration
		}
		return out[i].Start.After(out[j].Start)
	})
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// Close closes the segment files.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seg := range s.segments {
		seg.f.Close()
	}
	s.segments = nil
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
