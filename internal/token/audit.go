package token

import (
	"context"
	"fmt"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// MaxEntries bounds the audit log: the oldest entries beyond it are deleted.
const MaxEntries = 10000

const (
	// queueSize is how many entries wait for the writer before Record drops them.
	queueSize = 1024
	// maxBatch is the most entries written in one transaction (etcd takes 128 ops).
	maxBatch = 100
	// pruneEvery is how many entries are written between two prunes of the log.
	pruneEvery = 500
	// defaultLimit is how many entries Audit returns when the query says none.
	defaultLimit = 100
)

// Entry is one API call in the audit log.
type Entry struct {
	At time.Time `json:"at"`
	// Token is the name of the token the call carried ("": none the server knows), Role
	// its role when it was accepted.
	Token  string `json:"token,omitempty"`
	Role   Role   `json:"role,omitempty"`
	Method string `json:"method"`
	// Route is the pattern of the route that served it ("": none did), with the query of
	// a call that changes something ("/v1/apps/{app}?purge=1").
	Route string `json:"route,omitempty"`
	App   string `json:"app,omitempty"`
	// Status is the answer's HTTP status (of a stream: the one it began with).
	Status   int           `json:"status"`
	Duration time.Duration `json:"duration"`
	Remote   string        `json:"remote"`
	// Error is what a stream that began with Status ended with (a failed deploy), and
	// ErrorCode the status it stands for.
	Error     string `json:"error,omitempty"`
	ErrorCode int    `json:"errorCode,omitempty"`
}

// Query selects audit entries: the newest Limit (0: 100) of those of Token ("": all).
type Query struct {
	Token string
	Limit int
}

// item is what the writer takes: an entry, or a mark closed once every entry queued
// before it is written.
type item struct {
	entry   Entry
	written chan struct{}
}

// Record queues e for the audit log without waiting for it to be written: an API call
// is never slowed by its log. When the queue is full (the store is slower than the
// calls), e is dropped, counted, and a warning logged.
func (k *Keeper) Record(e Entry) {
	if e.Token == "" && !k.anonymous.Allow() {
		k.unrecorded.Add(1)
		return
	}
	select {
	case k.queue <- item{entry: e}:
	default:
		n := k.dropped.Add(1)
		if k.warned.CompareAndSwap(false, true) {
			k.log.Warn("the audit log falls behind the API calls: entries are dropped", "dropped", n)
		}
	}
}

// Calls without a known token (401s) are recorded up to anonymousRate a second, in
// bursts of anonymousBurst: beyond, they are only counted (Unrecorded).
const (
	anonymousRate  = 10
	anonymousBurst = 100
)

// Unrecorded counts the calls without a known token left out of the log since Open.
func (k *Keeper) Unrecorded() int64 { return k.unrecorded.Load() }

// Dropped counts the entries not written since Open: dropped by Record, or lost to a
// failed write.
func (k *Keeper) Dropped() int64 { return k.dropped.Load() }

// Audit returns the newest entries q selects, oldest first, once the entries recorded
// before the call are written.
func (k *Keeper) Audit(ctx context.Context, q Query) ([]Entry, error) {
	if err := k.flush(ctx); err != nil {
		return nil, fmt.Errorf("wait for the audit log's writes: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, k.keep)
	n := limit
	if q.Token != "" {
		n = k.keep
	}
	entries, err := store.Newest[Entry](ctx, k.st, store.AuditPrefix, n)
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	if q.Token != "" {
		mine := entries[:0]
		for _, e := range entries {
			if e.Token == q.Token {
				mine = append(mine, e)
			}
		}
		entries = mine[max(0, len(mine)-limit):]
	}
	return entries, nil
}

// flush waits until the entries queued before it are written.
func (k *Keeper) flush(ctx context.Context) error {
	w := make(chan struct{})
	select {
	case k.queue <- item{written: w}:
	case <-k.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-w:
	case <-k.stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// write is the one goroutine that writes the audit log: the entries queued, in batches
// of what waits, until Close; then what is left in the queue.
func (k *Keeper) write() {
	defer close(k.stopped)
	var (
		batch   []Entry
		marks   []chan struct{}
		seq     uint64
		written = pruneEvery // prune at the first write: a log left longer by an older server
	)
	take := func(it item) {
		if it.written != nil {
			marks = append(marks, it.written)
		} else {
			batch = append(batch, it.entry)
		}
	}
	writeOut := func() {
		for start := 0; start < len(batch); start += maxBatch {
			part := batch[start:min(start+maxBatch, len(batch))]
			ops := make([]store.Op, len(part))
			for i, e := range part {
				seq++
				ops[i] = store.Op{Key: store.AuditKey(e.At, seq), Value: e}
			}
			if !k.commit(ops) {
				continue
			}
			if written += len(part); written >= pruneEvery {
				k.prune()
				written = 0
			}
		}
		batch = batch[:0]
		for _, m := range marks {
			close(m)
		}
		marks = marks[:0]
	}
	for {
		select {
		case it := <-k.queue:
			take(it)
		case <-k.done:
			for {
				select {
				case it := <-k.queue:
					take(it)
				default:
					writeOut()
					return
				}
			}
		}
	more: // what else waits goes in the same batch
		for len(batch) < maxBatch {
			select {
			case it := <-k.queue:
				take(it)
			default:
				break more
			}
		}
		writeOut()
	}
}

// commit writes one batch of entries; when it fails they are counted as dropped.
func (k *Keeper) commit(ops []store.Op) bool {
	if room := k.room.Load(); room != nil {
		if err := (*room)(); err != nil {
			total := k.dropped.Add(int64(len(ops)))
			if k.warned.CompareAndSwap(false, true) {
				k.log.Warn("the data dir has no room: audit entries are dropped until it has", "dropped", total, "err", err)
			}
			return false
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := k.st.Commit(ctx, ops...); err != nil {
		total := k.dropped.Add(int64(len(ops)))
		k.log.Error("write the audit log: entries lost", "entries", len(ops), "dropped", total, "err", err)
		return false
	}
	k.warned.Store(false)
	return true
}

// prune deletes the entries beyond the newest k.keep.
func (k *Keeper) prune() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.st.Prune(ctx, store.AuditPrefix, k.keep); err != nil {
		k.log.Warn("prune the audit log: it keeps more than its limit until the next prune", "limit", k.keep, "err", err)
	}
}
