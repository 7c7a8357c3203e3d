package logs

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/trace"
)

// The trace index of a log file is a sidecar, DIR/.index/FILE.idx, that tend appends to
// as the file grows: one record per chunk of whole lines (about 64 KiB) with the chunk's
// place, its time span and a Bloom filter of the trace ids its lines carry. A search
// reads the records, then only the chunks whose filter holds the id, then the file's
// tail that no record covers yet. The instance never waits for it: it appends to its
// log file as before, and tend reads behind it.
//
// A record: u32 length of what follows up to the checksum, u64 offset, u32 size, i64
// first and last time (Unix ms, 0: none), u16 filter words, the words (u64), u32 CRC-32
// (IEEE) of all of it. A torn or damaged record ends the index there: what follows is
// indexed again.
//
// The filter is written here rather than taken from a library because trace ids are
// already 128 uniformly random bits: its probes are taken from the id's two halves
// (double hashing) with no hash function, and its bytes on disk are ours to keep stable.

const (
	indexMagic   = "TENDLIX1"
	indexChunk   = 64 << 10
	bloomProbes  = 7  // with 10 bits per id: about 1% false positives
	bloomBitsPer = 10 // bits of filter per distinct trace id in a chunk
	recordFixed  = 4 + 8 + 4 + 8 + 8 + 2
)

// indexPath is the trace index of a log file (current or rotated).
func indexPath(path string) string {
	return filepath.Join(filepath.Dir(path), ".index", filepath.Base(path)+".idx")
}

// chunk is one index record.
type chunk struct {
	off          int64
	size         int64
	first, last  int64 // Unix ms
	bloom        []uint64
	recordOffset int64
}

// probes are where a trace id's bits are in a filter of words 64-bit words.
func probes(id trace.TraceID, words int) [bloomProbes]uint32 {
	h1 := binary.LittleEndian.Uint64(id[:8])
	h2 := binary.LittleEndian.Uint64(id[8:]) | 1
	m := uint64(words) * 64
	var p [bloomProbes]uint32
	for i := range p {
		p[i] = uint32((h1 + uint64(i)*h2) % m)
	}
	return p
}

func (c *chunk) mayHold(id trace.TraceID) bool {
	for _, b := range probes(id, len(c.bloom)) {
		if c.bloom[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// traceKeys are how a line names its trace: kit's slog JSON, and logfmt.
var traceKeys = [][]byte{[]byte(`"trace_id":"`), []byte(`trace_id=`)}

// traceIDs appends the trace ids a line carries.
func traceIDs(line []byte, ids []trace.TraceID) []trace.TraceID {
	for _, key := range traceKeys {
		rest := line
		for {
			i := bytes.Index(rest, key)
			if i < 0 {
				break
			}
			rest = rest[i+len(key):]
			var id trace.TraceID
			if len(rest) >= 32 {
				if _, err := hex.Decode(id[:], rest[:32]); err == nil && !id.IsZero() {
					ids = append(ids, id)
				}
			}
		}
	}
	return ids
}

var timeKey = []byte(`"time":"`)

// lineTime is the Unix ms of a slog JSON line's time field (0: none).
func lineTime(line []byte) int64 {
	i := bytes.Index(line, timeKey)
	if i < 0 {
		return 0
	}
	rest := line[i+len(timeKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

// newChunk indexes data (whole lines) found at off.
func newChunk(data []byte, off int64) chunk {
	c := chunk{off: off, size: int64(len(data))}
	var ids []trace.TraceID
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		ids = traceIDs(line, ids)
		if t := lineTime(line); t != 0 {
			if c.first == 0 || t < c.first {
				c.first = t
			}
			c.last = max(c.last, t)
		}
	}
	words := max(1, (len(ids)*bloomBitsPer+63)/64)
	c.bloom = make([]uint64, words)
	for _, id := range ids {
		for _, b := range probes(id, words) {
			c.bloom[b/64] |= 1 << (b % 64)
		}
	}
	return c
}

func (c chunk) encode() []byte {
	b := make([]byte, recordFixed, recordFixed+8*len(c.bloom)+4)
	binary.LittleEndian.PutUint32(b[0:], uint32(recordFixed-4+8*len(c.bloom)))
	binary.LittleEndian.PutUint64(b[4:], uint64(c.off))
	binary.LittleEndian.PutUint32(b[12:], uint32(c.size))
	binary.LittleEndian.PutUint64(b[16:], uint64(c.first))
	binary.LittleEndian.PutUint64(b[24:], uint64(c.last))
	binary.LittleEndian.PutUint16(b[32:], uint16(len(c.bloom)))
	for _, w := range c.bloom {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// readIndex reads the good records of an index file and where they end in it (0: no
// index, or not one of ours).
func readIndex(idx string) (chunks []chunk, good int64, err error) {
	data, err := os.ReadFile(idx)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if !bytes.HasPrefix(data, []byte(indexMagic)) {
		return nil, 0, nil
	}
	pos := int64(len(indexMagic))
	var end int64
	for rest := data[pos:]; len(rest) >= recordFixed+4; {
		n := int(binary.LittleEndian.Uint32(rest))
		if n < recordFixed-4 || len(rest) < 4+n+4 {
			break
		}
		body := rest[:4+n]
		if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(rest[4+n:]) {
			break
		}
		c := chunk{off: int64(binary.LittleEndian.Uint64(body[4:])), size: int64(binary.LittleEndian.Uint32(body[12:])),
			first: int64(binary.LittleEndian.Uint64(body[16:])), last: int64(binary.LittleEndian.Uint64(body[24:])), recordOffset: pos}
		words := int(binary.LittleEndian.Uint16(body[32:]))
		if n != recordFixed-4+8*words || c.off != end {
			break
		}
		c.bloom = make([]uint64, words)
		for i := range c.bloom {
			c.bloom[i] = binary.LittleEndian.Uint64(body[recordFixed+8*i:])
		}
		chunks = append(chunks, c)
		end = c.off + c.size
		pos += int64(4 + n + 4)
		rest = rest[4+n+4:]
	}
	return chunks, pos, nil
}

// indexed is where the index's records end in the log file.
func indexed(chunks []chunk) int64 {
	if len(chunks) == 0 {
		return 0
	}
	c := chunks[len(chunks)-1]
	return c.off + c.size
}

// Index brings the trace index of the log file at path (an instance's current log or a
// rotated copy) up to its last whole line. It takes the instance log's shared lock, so
// a rotation sees it whole or not at all; it returns the bytes it indexed and those it
// left (an incomplete last line).
func Index(path string) (done, left int64, err error) {
	base := path
	if ext := filepath.Ext(path); ext != ".log" {
		base = path[:len(path)-len(ext)]
	}
	lock, err := os.Open(base)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			lock = nil // a rotated copy whose instance log is gone: nothing rotates it now
		} else {
			return 0, 0, err
		}
	}
	if lock != nil {
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH); err != nil {
			return 0, 0, fmt.Errorf("index %s: lock: %w", path, err)
		}
	}
	return indexLocked(path)
}

// indexLocked is Index with the instance log's lock held.
func indexLocked(path string) (done, left int64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	idx := indexPath(path)
	chunks, good, err := readIndex(idx)
	if err != nil {
		return 0, 0, fmt.Errorf("index %s: %w", path, err)
	}
	from := indexed(chunks)
	if from > st.Size() { // the file was cut or replaced behind tend's back
		from, good = 0, 0
	}
	if from == st.Size() && good > 0 {
		return 0, 0, nil
	}
	if err := os.MkdirAll(filepath.Dir(idx), 0o750); err != nil {
		return 0, 0, fmt.Errorf("index %s: %w", path, err)
	}
	out, err := os.OpenFile(idx, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return 0, 0, fmt.Errorf("index %s: %w", path, err)
	}
	defer out.Close()
	if good == 0 {
		if err := out.Truncate(0); err != nil {
			return 0, 0, err
		}
		if _, err := out.WriteAt([]byte(indexMagic), 0); err != nil {
			return 0, 0, fmt.Errorf("index %s: %w", path, err)
		}
		good = int64(len(indexMagic))
	} else if err := out.Truncate(good); err != nil { // drop a torn record
		return 0, 0, err
	}
	pos := from
	write := func(c chunk) error {
		rec := c.encode()
		if _, err := out.WriteAt(rec, good); err != nil {
			return fmt.Errorf("index %s: %w", path, err)
		}
		good += int64(len(rec))
		done += c.size
		return nil
	}
	buf := make([]byte, indexChunk)
	var pending []byte
	for pos < st.Size() {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), st.Size()-pos)], pos)
		if n == 0 && err != nil && err != io.EOF {
			return done, 0, fmt.Errorf("index %s: %w", path, err)
		}
		data := append(pending, buf[:n]...)
		cut := bytes.LastIndexByte(data, '\n')
		switch {
		case cut >= 0:
			if err := write(newChunk(data[:cut+1], pos-int64(len(pending)))); err != nil {
				return done, 0, err
			}
			pending = append(pending[:0:0], data[cut+1:]...)
		case len(data) >= maxLineBytes: // a line this long is indexed in pieces
			if err := write(newChunk(data, pos-int64(len(pending)))); err != nil {
				return done, 0, err
			}
			pending = nil
		default:
			pending = data
		}
		pos += int64(n)
		if n == 0 {
			break
		}
	}
	return done, st.Size() - (from + done), nil
}

// shiftIndexes moves the indexes along with a rotation: path.i's to path.i+1's, from
// keep-1 down, then path's to path.1's (whose contents are a copy of path's).
func shiftIndexes(path string, keep int) {
	for i := keep - 1; i >= 1; i-- {
		_ = os.Rename(indexPath(rotated(path, i)), indexPath(rotated(path, i+1)))
	}
	_ = os.Rename(indexPath(path), indexPath(rotated(path, 1)))
}

// IndexAll brings the trace index of every instance log in dataDir and of its rotated
// copies up to date; it returns the bytes it indexed and those left for the next round
// (an incomplete last line, or a file it could not read, which it names in err).
func IndexAll(dataDir string) (done, left int64, err error) {
	files, gerr := filepath.Glob(filepath.Join(dataDir, "logs", "*", "*.log*"))
	if gerr != nil {
		return 0, 0, gerr
	}
	var errs []error
	for _, path := range files {
		if !isLogFile(path) {
			continue
		}
		n, l, err := Index(path)
		done, left = done+n, left+l
		if err != nil {
			errs = append(errs, err)
		}
	}
	return done, left, errors.Join(errs...)
}

// isLogFile reports whether path is an instance log (NAME.log) or a rotated copy (NAME.log.N).
func isLogFile(path string) bool {
	base := filepath.Base(path)
	if strings.HasSuffix(base, ".log") {
		return true
	}
	i := strings.LastIndex(base, ".log.")
	if i < 0 {
		return false
	}
	_, err := strconv.Atoi(base[i+5:])
	return err == nil
}
