package trace

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// record is a span as a segment file keeps it: one JSON line, versioned.
type record struct {
	V        int            `json:"v"`
	Trace    string         `json:"trace"`
	ID       string         `json:"id"`
	Parent   string         `json:"parent,omitempty"`
	Service  string         `json:"service"`
	Name     string         `json:"name"`
	Kind     Kind           `json:"kind,omitempty"`
	Start    int64          `json:"start"` // Unix nanoseconds
	End      int64          `json:"end"`
	Error    bool           `json:"error,omitempty"`
	Message  string         `json:"message,omitempty"`
	Attrs    map[string]any `json:"attrs,omitempty"`
	Resource map[string]any `json:"resource,omitempty"`
}

const recordVersion = 1

func encodeSpan(buf *bytes.Buffer, s Span) error {
	r := record{V: recordVersion, Trace: s.Trace.String(), ID: s.ID.String(), Service: s.Service, Name: s.Name, Kind: s.Kind,
		Start: s.Start.UnixNano(), End: s.End.UnixNano(), Error: s.Error, Message: s.Message, Attrs: s.Attributes, Resource: s.Resource}
	if !s.Parent.IsZero() {
		r.Parent = s.Parent.String()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode span %s of trace %s: %w", r.ID, r.Trace, err)
	}
	buf.Write(b)
	buf.WriteByte('\n')
	return nil
}

func decodeSpan(line []byte) (Span, error) {
	var r record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return Span{}, err
	}
	if r.V != recordVersion {
		return Span{}, fmt.Errorf("span record version %d: this tend reads version %d", r.V, recordVersion)
	}
	var s Span
	for _, id := range []struct {
		dst []byte
		hex string
	}{{s.Trace[:], r.Trace}, {s.ID[:], r.ID}, {s.Parent[:], r.Parent}} {
		if id.hex == "" {
			continue
		}
		if n, err := hex.Decode(id.dst, []byte(id.hex)); err != nil || n != len(id.dst) {
			return Span{}, fmt.Errorf("span record: bad id %q", id.hex)
		}
	}
	s.Service, s.Name, s.Kind, s.Error, s.Message = r.Service, r.Name, r.Kind, r.Error, r.Message
	s.Start, s.End = time.Unix(0, r.Start).UTC(), time.Unix(0, r.End).UTC()
	s.Attributes, s.Resource = numbers(r.Attrs), numbers(r.Resource)
	return s, nil
}

// numbers turns the json.Numbers of decoded attributes back into int64 or float64.
func numbers(m map[string]any) map[string]any {
	for k, v := range m {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				m[k] = i
			} else if f, err := n.Float64(); err == nil {
				m[k] = f
			}
		}
	}
	return m
}
