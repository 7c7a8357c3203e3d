package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api/v1"
)

func TestDecodeIsStrict(t *testing.T) {
	var a v1.ActionRequest
	if err := decode(strings.NewReader(`{"to": 3}`), 1<<20, &a); err != nil || a.To != 3 {
		t.Fatalf("%+v %v", a, err)
	}
	for _, bad := range []string{`{"too": 3}`, `{"to": "3"}`, `{"to": 3} {"to": 4}`, `[`} {
		if err := decode(strings.NewReader(bad), 1<<20, &a); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := decode(strings.NewReader(""), 1<<20, &a); !errors.Is(err, io.EOF) {
		t.Errorf("empty body: %v, want io.EOF (no options)", err)
	}
	var d v1.DeployRequest
	big := `{"file": "/tmp/tend.yaml", "source": "` + strings.Repeat("x", 5<<20) + `"}`
	if err := decode(strings.NewReader(big), 4<<20, &d); err == nil || !strings.Contains(err.Error(), "larger than the API takes (4 MiB)") {
		t.Errorf("a 5 MiB deploy: %v, want the 4 MiB limit named", err)
	}
}

func FuzzDecodeRequests(f *testing.F) {
	for _, seed := range []string{`{"file": "/tmp/tend.yaml", "source": "app: x"}`, `{"to": 2, "full": true, "instances": 3}`, `{}`, `null`, `{"source": "\u0000"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var d v1.DeployRequest
		if err := decode(bytes.NewReader(body), 4<<20, &d); err == nil {
			// what was accepted must survive a round trip unchanged
			b, _ := json.Marshal(d)
			var again v1.DeployRequest
			if err := decode(bytes.NewReader(b), 4<<20, &again); err != nil || again != d {
				t.Fatalf("round trip of %q: %+v %v", body, again, err)
			}
		}
		var a v1.ActionRequest
		_ = decode(bytes.NewReader(body), 1<<20, &a)
	})
}
