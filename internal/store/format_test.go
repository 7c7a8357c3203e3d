package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
)

// A revision written by tend before record formats (format 1, no "v") holds the
// absolute path of its artifact; it reads as the current format, with the path in the
// data dir.
func TestOldRecordsAreUpgradedAndNewOnesStamped(t *testing.T) {
	const hex = "0d5f6c9e2b7a0d5f6c9e2b7a0d5f6c9e2b7a0d5f6c9e2b7a0d5f6c9e2b7a0d5f"
	old := `{"app":"hello","number":3,"artifact":"sha256:` + hex + `","path":"/var/lib/old-place/artifacts/` + hex + `/hello","configHash":"x","spec":{"app":"hello"},"createdAt":"2026-11-01T10:00:00Z"}`
	var rev Revision
	if err := Decode(RevisionKey("hello", 3), []byte(old), &rev); err != nil {
		t.Fatal(err)
	}
	if rev.Path != "artifacts/"+hex+"/hello" || rev.Number != 3 || rev.Spec.App != "hello" || !rev.CreatedAt.Equal(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("format 1 revision read as %+v, want its fields and the path artifacts/%s/hello", rev, hex)
	}
	// an instance record of format 1 restarts from the artifact in the data dir too
	inst := `{"app":"hello","id":"hello-3-abcd","template":{"App":"hello","Revision":3,"Artifact":"/var/lib/old-place/artifacts/` + hex + `/hello"}}`
	var rec map[string]any
	if err := Decode(InstanceKey("hello", "hello-3-abcd"), []byte(inst), &rec); err != nil || rec["template"].(map[string]any)["Artifact"] != "artifacts/"+hex+"/hello" {
		t.Errorf("format 1 instance record read as %v, %v", rec, err)
	}
	// an image reference is not a path in the data dir
	img := `{"app":"hello","number":4,"artifact":"sha256:` + hex + `","path":"registry.example.com/hello@sha256:` + hex + `"}`
	if err := Decode(RevisionKey("hello", 4), []byte(img), &rev); err != nil || rev.Path != "registry.example.com/hello@sha256:"+hex {
		t.Errorf("image reference: %q, %v", rev.Path, err)
	}

	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(ctx, RevisionKey("hello", 5), Revision{App: "hello", Number: 5, Path: "artifacts/" + hex + "/hello"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, AppKey("hello"), AppRecord{Source: "tend.yaml"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, ServiceKey("hello", "127.0.0.1:1"), Endpoint{Name: "hello", Address: "127.0.0.1", Port: 1}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Records(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range recs {
		v := string(kv.Value)
		switch {
		case strings.HasPrefix(kv.Key, RevisionsRoot) && !strings.HasPrefix(v, `{"v":3,"app":"hello"`),
			strings.HasPrefix(kv.Key, AppsPrefix) && !strings.HasPrefix(v, `{"v":1,`),
			strings.HasPrefix(kv.Key, ServicesPrefix) && strings.Contains(v, `"v"`):
			t.Errorf("%s stored as %s", kv.Key, v)
		}
	}
	// and the stamped record reads back as it was written
	if err := s.Get(ctx, RevisionKey("hello", 5), &rev); err != nil || rev.Path != "artifacts/"+hex+"/hello" || rev.Number != 5 {
		t.Errorf("stamped revision read back as %+v, %v", rev, err)
	}
}

func TestARecordOfANewerFormatIsRefusedWithTheWayOut(t *testing.T) {
	var rec AppRecord
	err := Decode(AppKey("hello"), []byte(`{"v":7,"source":"tend.yaml"}`), &rec)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Format != 7 || fe.Readable != 1 {
		t.Fatalf("format 7 app record: %v, want a FormatError", err)
	}
	for _, want := range []string{AppKey("hello"), "newer tend", "restore the data dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	// "v" somewhere else than first, as a person editing a record might leave it
	if err := Decode(AppKey("hello"), []byte(`{"source":"tend.yaml", "v": 9}`), &rec); !errors.As(err, &fe) {
		t.Errorf("a late v: %v, want a FormatError", err)
	}
	for _, bad := range []string{`{"v":0}`, `{"v":"two"}`, `{"v":-1,"source":""}`} {
		if err := Decode(AppKey("hello"), []byte(bad), &rec); err == nil {
			t.Errorf("%s was read", bad)
		}
	}
}

// Any bytes under any key are read or refused, never a panic; whatever reads back
// re-encodes, stamped, to a record that reads back and encodes to the same bytes (an
// empty list read is written as no list, so the two records need not be deeply equal).
func FuzzDecodeRecord(f *testing.F) {
	const hex = "0d5f6c9e2b"
	f.Add(RevisionKey("hello", 1), []byte(`{"app":"hello","number":1,"artifact":"sha256:`+hex+`","path":"/x/artifacts/`+hex+`/hello"}`))
	f.Add(RevisionKey("hello", 1), []byte(`{"v":2,"app":"hello","path":"artifacts/`+hex+`/hello"}`))
	f.Add(AppKey("a"), []byte(`{"v":1,"source":"s"}`))
	f.Add(RouteKey("a"), []byte(`{"app":"a","hosts":["a.test"]}`))
	f.Add(RouteKey("a"), []byte(`{"hosts":[],"splits":[]}`)) // empty lists are omitted when written
	f.Add(ServiceKey("a", "127.0.0.1:1"), []byte(`{"name":"a","address":"127.0.0.1","port":1}`))
	f.Add(IncidentKey(1), []byte(`{"v":3}`))
	f.Add(InstanceUserKey("a"), []byte(`{"v":1e3,"app":"a"}`))
	f.Fuzz(func(t *testing.T, key string, raw []byte) {
		for _, v := range []any{&Revision{}, &AppRecord{}, &route.Route{}, &Endpoint{}, &map[string]any{}} {
			if Decode(key, raw, v) != nil {
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T read from %q does not encode: %v", v, raw, err)
			}
			again := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := Decode(key, stamp(key, b), again); err != nil {
				t.Fatalf("%s: %T re-encoded as %s does not read back: %v", key, v, stamp(key, b), err)
			}
			b2, err := json.Marshal(again)
			if err != nil {
				t.Fatalf("%T read back from %s does not encode: %v", again, b, err)
			}
			if _, isMap := v.(*map[string]any); !isMap && !bytes.Equal(b, b2) {
				t.Fatalf("%s: %T changed on a round trip:\n%s\n%s", key, v, b, b2)
			}
		}
	})
}
