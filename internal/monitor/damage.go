package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
)

// DamagedDir is where damaged blocks are moved, inside the metrics dir: the TSDB sees
// only directories named by a block's ULID, so it ignores it.
const DamagedDir = "damaged"

// DamagedError is a metrics database that does not open even without its damaged
// blocks (its write-ahead log cannot be repaired, a directory is a file, ...): tend
// server exits with it, naming the way out.
type DamagedError struct {
	Dir string // the metrics database (DATA/metrics)
	Err error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the metrics database is damaged: %s does not open: %v. tend cannot start on it. Either restore %s from a copy taken while tend was stopped, "+
		"or move it aside (mv %s %s.damaged) and start again with empty metrics: apps, revisions and incidents are in the store, not in it", e.Dir, e.Err, e.Dir, e.Dir, e.Dir)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// DamagedBlock is a block of the metrics database that was found damaged at start-up
// and moved aside.
type DamagedBlock struct {
	Block   string // where it was (DATA/metrics/<ULID>)
	MovedTo string // where it is now (DATA/metrics/damaged/<ULID>)
	Damage  string // what is wrong with it
	// From and To bound its samples (zero when its meta.json does not say).
	From, To time.Time
	// SupersededBy is the block it was compacted into, when one holds its samples.
	SupersededBy string
}

// moveDamagedBlocks checks every block in dir before the TSDB opens them, and moves
// those that are damaged into dir/damaged, logging each: the TSDB refuses to open at all
// with a block whose index or chunks it cannot open, skips one whose meta.json does not
// read (logging the same error every minute, its samples silently gone), and opens one
// whose chunks file was cut short, failing every query that reads its lost chunks.
//
// A block is damaged when it does not open, when its index does not read back (every
// series entry has a checksum) or when the last chunk the index refers to in a chunks
// file is not whole there (a truncated file). The check reads the index, not every
// chunk: a chunk garbled within its file is found by the query that reads it.
func moveDamagedBlocks(dir string, log *slog.Logger) ([]DamagedBlock, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read the metrics dir %s: %w", dir, err)
	}
	type found struct {
		name string
		meta *tsdb.BlockMeta
		err  error
	}
	var blocks []found
	parents := map[string]string{} // block ULID -> the healthy block it was compacted into
	for _, e := range entries {
		if !e.IsDir() || !isULID(e.Name()) {
			continue
		}
		meta, err := checkBlock(filepath.Join(dir, e.Name()))
		blocks = append(blocks, found{e.Name(), meta, err})
		if err == nil {
			for _, p := range meta.Compaction.Parents {
				parents[p.ULID.String()] = e.Name()
			}
		}
	}
	var moved []DamagedBlock
	for _, b := range blocks {
		if b.err == nil {
			continue
		}
		d := DamagedBlock{Block: filepath.Join(dir, b.name), Damage: b.err.Error(), SupersededBy: parents[b.name]}
		if b.meta != nil {
			d.From, d.To = time.UnixMilli(b.meta.MinTime).UTC(), time.UnixMilli(b.meta.MaxTime).UTC()
		}
		if err := os.MkdirAll(filepath.Join(dir, DamagedDir), 0o700); err != nil {
			return moved, &DamagedError{Dir: dir, Err: fmt.Errorf("block %s is damaged (%v), and it cannot be moved aside: %w", d.Block, b.err, err)}
		}
		d.MovedTo = filepath.Join(dir, DamagedDir, b.name)
		if _, err := os.Stat(d.MovedTo); err == nil {
			d.MovedTo += ".damaged-" + time.Now().UTC().Format("20060102T150405")
		}
		if err := os.Rename(d.Block, d.MovedTo); err != nil {
			return moved, &DamagedError{Dir: dir, Err: fmt.Errorf("block %s is damaged (%v), and it cannot be moved aside: %w", d.Block, b.err, err)}
		}
		moved = append(moved, d)
		attrs := []any{"block", d.Block, "movedTo", d.MovedTo, "damage", d.Damage}
		if !d.From.IsZero() {
			attrs = append(attrs, "samplesFrom", d.From, "samplesTo", d.To)
		}
		if d.SupersededBy != "" {
			log.Warn("a damaged block of the metrics database was moved aside; nothing is lost: block "+d.SupersededBy+" holds its samples", append(attrs,
				"wayOut", "delete "+d.MovedTo)...)
			continue
		}
		log.Warn("a damaged block of the metrics database was moved aside; tend starts without its samples", append(attrs,
			"wayOut", "to get its samples back, stop tend and copy the block "+b.name+" from a backup copy of DATA/metrics into DATA/metrics; otherwise delete "+d.MovedTo)...)
	}
	return moved, nil
}

// checkBlock opens the block in dir as the TSDB does, reads its whole index and reads
// the last chunk of each chunks file; it returns the block's meta when that reads.
func checkBlock(dir string) (*tsdb.BlockMeta, error) {
	meta, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	b, err := tsdb.OpenBlock(slog.New(slog.DiscardHandler), dir, nil, nil)
	if err != nil {
		return meta, err
	}
	defer b.Close()
	ir, err := b.Index()
	if err != nil {
		return meta, fmt.Errorf("index: %w", err)
	}
	defer ir.Close()
	cr, err := b.Chunks()
	if err != nil {
		return meta, fmt.Errorf("chunks: %w", err)
	}
	defer cr.Close()
	name, value := index.AllPostingsKey()
	p, err := ir.Postings(context.Background(), name, value)
	if err != nil {
		return meta, fmt.Errorf("index: %w", err)
	}
	last := map[int]chunks.Meta{} // per chunks file, the chunk that starts last in it
	var builder labels.ScratchBuilder
	var chks []chunks.Meta
	series := 0
	for p.Next() {
		if err := ir.Series(p.At(), &builder, &chks); err != nil {
			return meta, fmt.Errorf("index: series %d: %w", series, err)
		}
		series++
		for _, c := range chks {
			file, off := chunks.BlockChunkRef(c.Ref).Unpack()
			if l, ok := last[file]; ok {
				if _, lastOff := chunks.BlockChunkRef(l.Ref).Unpack(); lastOff >= off {
					continue
				}
			}
			last[file] = c
		}
	}
	if err := p.Err(); err != nil {
		return meta, fmt.Errorf("index: %w", err)
	}
	for file, c := range last {
		if _, _, err := cr.ChunkOrIterable(c); err != nil {
			return meta, fmt.Errorf("chunks file %s: %w", chunksFile(dir, file), err)
		}
	}
	return meta, nil
}

// chunksFile names the chunks file a chunk reference's file number stands for: the
// TSDB numbers the block's files in name order.
func chunksFile(dir string, n int) string {
	entries, _ := os.ReadDir(filepath.Join(dir, "chunks"))
	var files []string
	for _, e := range entries {
		if _, err := strconv.ParseUint(e.Name(), 10, 64); err == nil {
			files = append(files, e.Name())
		}
	}
	if n < len(files) {
		return filepath.Join(dir, "chunks", files[n])
	}
	return fmt.Sprintf("number %d in %s", n+1, filepath.Join(dir, "chunks"))
}

// readMeta reads a block's meta.json as the TSDB does.
func readMeta(dir string) (*tsdb.BlockMeta, error) {
	path := filepath.Join(dir, "meta.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m tsdb.BlockMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("%s: unexpected version %d", path, m.Version)
	}
	return &m, nil
}

// isULID reports whether name is a block's directory name: a ULID in Crockford's base32.
func isULID(name string) bool {
	if len(name) != 26 || name[0] > '7' {
		return false
	}
	for _, c := range name {
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", c) {
			return false
		}
	}
	return true
}

// walRepairs is how often the TSDB repaired its write-ahead log while it opened, from
// the registry it was opened with.
func walRepairs(reg prometheus.Gatherer) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "prometheus_tsdb_wal_corruptions_total" {
			for _, m := range mf.GetMetric() {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
