package buildinfo

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLdflagsValuesWin(t *testing.T) {
	Version, Commit, BuildTime = "v1.2.3", "abc123", "2026-11-24T00:00:00Z"
	defer func() { Version, Commit, BuildTime = "", "", "" }()
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, httptest.NewRequest("GET", "/version", nil))
	var got Info
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Version != "v1.2.3" || got.Commit != "abc123" {
		t.Fatalf("/version: %s %v", w.Body.String(), err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	want := `build_info{build_time="2026-11-24T00:00:00Z",commit="abc123",goversion="` + got.GoVersion + `",version="v1.2.3"} 1`
	if err := testutil.GatherAndCompare(reg, strings.NewReader("# HELP build_info The running build: always 1, with its version, commit, build time and Go version.\n# TYPE build_info gauge\n"+want+"\n")); err != nil {
		t.Fatal(err)
	}
}

func TestFallsBackToUnknown(t *testing.T) {
	if i := Get(); i.Version == "" || i.Commit == "" || i.BuildTime == "" || !strings.HasPrefix(i.GoVersion, "go") {
		t.Fatalf("%+v: no field may be empty", i)
	}
}

func ExampleGet() {
	Version = "v1.0.0"
	defer func() { Version = "" }()
	fmt.Println(Get().Version)
	// Output: v1.0.0
}
