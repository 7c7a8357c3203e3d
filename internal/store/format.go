package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Every record tend writes under /tend/ carries its format as a leading "v" field; a
// record without one is format 1, as every tend wrote before formats were numbered.
// Reading goes through Decode, which upgrades an older format step by step to the
// current one, and refuses a newer one: a record written by a newer tend is never
// misread by an older one. The registry under /services/ is the seed's layout, shared
// with services tend did not start, and has no format.

// format is one kind of record: its key prefix, current format, and the upgrade from
// each older format n to n+1 (on the record as generic JSON).
type format struct {
	prefix  string
	current int
	up      map[int]func(rec map[string]any) error
}

// formats lists the kinds of records whose format is past 1; every other /tend/ prefix
// is at format 1.
var formats = []format{
	// revision format 3 may name secret versions ("secrets"), which a tend that reads
	// format 2 would start the revision without: it refuses the record instead
	{prefix: RevisionsRoot, current: 3, up: map[int]func(map[string]any) error{1: revisionPathInDataDir, 2: nothingToUpgrade}},
	{prefix: InstancesPrefix, current: 2, up: map[int]func(map[string]any) error{1: instanceArtifactInDataDir}},
}

// nothingToUpgrade is an upgrade to a format that only adds optional fields.
func nothingToUpgrade(map[string]any) error { return nil }

// formatOf is the format of records under key, and false for keys that have none.
func formatOf(key string) (format, bool) {
	if !strings.HasPrefix(key, "/tend/") {
		return format{}, false
	}
	for _, f := range formats {
		if strings.HasPrefix(key, f.prefix) {
			return f, true
		}
	}
	return format{current: 1}, true
}

// FormatError is a record in a format this tend does not read.
type FormatError struct {
	Key              string
	Format, Readable int
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("record %s is in format %d, written by a newer tend; this tend reads formats up to %d: run the newer tend on this data dir, or restore the data dir from a copy made before it was upgraded",
		e.Key, e.Format, e.Readable)
}

// stamp puts key's current format in front of the encoded record b.
func stamp(key string, b []byte) []byte {
	f, ok := formatOf(key)
	if !ok || len(b) < 2 || b[0] != '{' {
		return b
	}
	out := make([]byte, 0, len(b)+8)
	out = append(out, `{"v":`...)
	out = strconv.AppendInt(out, int64(f.current), 10)
	if b[1] != '}' {
		out = append(out, ',')
	}
	return append(out, b[1:]...)
}

// recordFormat reads the "v" of a record: tend writes it first, so the common case is
// read without parsing the record; 1 when there is none.
func recordFormat(raw []byte) (int, error) {
	if rest, ok := bytes.CutPrefix(raw, []byte(`{"v":`)); ok {
		end := bytes.IndexAny(rest, ",}")
		if end > 0 {
			if n, err := strconv.Atoi(string(rest[:end])); err == nil {
				return n, nil
			}
		}
	}
	if !bytes.Contains(raw, []byte(`"v"`)) {
		return 1, nil
	}
	var head struct {
		V *json.RawMessage `json:"v"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return 0, err
	}
	if head.V == nil {
		return 1, nil
	}
	var n int
	if err := json.Unmarshal(*head.V, &n); err != nil || n < 1 {
		return 0, fmt.Errorf("format %s: want a whole number from 1", *head.V)
	}
	return n, nil
}

// Decode reads the record stored under key into v, upgrading an older format first.
func Decode(key string, raw []byte, v any) error {
	f, ok := formatOf(key)
	if !ok {
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("decode %s: %w", key, err)
		}
		return nil
	}
	n, err := recordFormat(raw)
	if err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	if n > f.current {
		return &FormatError{Key: key, Format: n, Readable: f.current}
	}
	if n < f.current {
		var rec map[string]any
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("decode %s (format %d): %w", key, n, err)
		}
		for ; n < f.current; n++ {
			up := f.up[n]
			if up == nil {
				return fmt.Errorf("decode %s: no upgrade from format %d (a bug: report it)", key, n)
			}
			if err := up(rec); err != nil {
				return fmt.Errorf("upgrade %s from format %d: %w", key, n, err)
			}
		}
		if raw, err = json.Marshal(rec); err != nil {
			return fmt.Errorf("upgrade %s: %w", key, err)
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// revisionPathInDataDir is format 2 of revisions: the path of an artifact built in the
// data dir is relative to it (artifacts/HEX/APP), so that a data dir restored or moved
// elsewhere still finds its executables. Format 1 held the absolute path.
func revisionPathInDataDir(rec map[string]any) error {
	if path, ok := rec["path"].(string); ok {
		rec["path"] = artifactInDataDir(path)
	}
	return nil
}

// instanceArtifactInDataDir is format 2 of the runtime's instance records: the
// template's artifact is relative to the data dir too, so that an instance restarted
// after a move starts from the moved executable.
func instanceArtifactInDataDir(rec map[string]any) error {
	if t, ok := rec["template"].(map[string]any); ok {
		if path, ok := t["Artifact"].(string); ok {
			t["Artifact"] = artifactInDataDir(path)
		}
	}
	return nil
}

// artifactInDataDir is an absolute path of the form .../artifacts/HEX/NAME, with HEX a
// sha256, as the part from artifacts on; any other path as it is (an image reference, a
// test's executable).
func artifactInDataDir(path string) string {
	i := strings.LastIndex(path, "/artifacts/")
	if !strings.HasPrefix(path, "/") || i < 0 {
		return path
	}
	rel := path[i+1:]
	parts := strings.Split(rel, "/")
	if len(parts) != 3 || len(parts[1]) != 64 || strings.Trim(parts[1], "0123456789abcdef") != "" || parts[2] == "" {
		return path
	}
	return rel
}
