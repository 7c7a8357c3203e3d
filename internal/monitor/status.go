package monitor

import (
	"net/http"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/tsdb/index"
	"gopkg.in/yaml.v3"
)

// started is when this process started, for /api/v1/status/runtimeinfo.
var started = time.Now()

// apiStatusConfig answers /api/v1/status/config: the configuration Prometheus would need
// to scrape as tend does, as YAML (tend's targets come from its runtime, not a file).
func (m *Monitor) apiStatusConfig(w http.ResponseWriter, r *http.Request) {
	cfg := map[string]any{
		"global": map[string]any{"scrape_interval": m.o.Interval.String(), "evaluation_interval": m.o.Interval.String()},
		"scrape_configs": []map[string]any{
			{"job_name": "tend", "scrape_interval": m.o.SelfInterval.String(), "static_configs": []any{}},
			{"job_name": "apps", "scrape_interval": m.o.Interval.String(), "metrics_path": "/metrics",
				"relabel_configs": []any{}, "service_discovery": "tend: every ready instance of every app (see /api/v1/targets)"},
		},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		fail(w, err)
		return
	}
	ok(w, map[string]string{"yaml": string(b)})
}

// apiStatusFlags answers /api/v1/status/flags: tend server's settings under the names
// of the Prometheus flags they stand for.
func (m *Monitor) apiStatusFlags(w http.ResponseWriter, r *http.Request) {
	size := "0B"
	if m.o.MaxBytes > 0 {
		size = strconv.FormatInt(m.o.MaxBytes, 10) + "B"
	}
	ok(w, map[string]string{
		"storage.tsdb.path":           m.o.Dir,
		"storage.tsdb.retention.time": m.o.Retention.String(),
		"storage.tsdb.retention.size": size,
		"scrape.interval":             m.o.Interval.String(),
	})
}

// apiStatusRuntime answers /api/v1/status/runtimeinfo.
func (m *Monitor) apiStatusRuntime(w http.ResponseWriter, r *http.Request) {
	cwd, _ := os.Getwd()
	ok(w, map[string]any{
		"startTime": started, "CWD": cwd, "reloadConfigSuccess": true, "lastConfigTime": started,
		"corruptionCount": len(m.damaged), "goroutineCount": goruntime.NumGoroutine(), "GOMAXPROCS": goruntime.GOMAXPROCS(0),
		"GOMEMLIMIT": debug.SetMemoryLimit(-1), "GOGC": os.Getenv("GOGC"), "GODEBUG": os.Getenv("GODEBUG"), "storageRetention": m.o.Retention.String(),
	})
}

// apiStatusTSDB answers /api/v1/status/tsdb: the head block's numbers and its top ten
// metrics, labels and label pairs by series, as Prometheus' TSDB status page shows them.
func (m *Monitor) apiStatusTSDB(w http.ResponseWriter, r *http.Request) {
	limit := 10
	if v := r.FormValue("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(w, badf("limit must be a positive number"))
			return
		}
		limit = n
	}
	h := m.db.Head()
	st := h.Stats("__name__", limit)
	stats := func(in []index.Stat) []map[string]any {
		out := []map[string]any{}
		for _, s := range in {
			out = append(out, map[string]any{"name": s.Name, "value": s.Count})
		}
		return out
	}
	ok(w, map[string]any{
		"headStats":                   map[string]any{"numSeries": st.NumSeries, "numLabelPairs": st.IndexPostingStats.NumLabelPairs, "minTime": st.MinTime, "maxTime": st.MaxTime},
		"seriesCountByMetricName":     stats(st.IndexPostingStats.CardinalityMetricsStats),
		"labelValueCountByLabelName":  stats(st.IndexPostingStats.CardinalityLabelStats),
		"memoryInBytesByLabelName":    stats(st.IndexPostingStats.LabelValueStats),
		"seriesCountByLabelValuePair": stats(st.IndexPostingStats.LabelValuePairsStats),
	})
}
