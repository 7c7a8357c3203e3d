package monitor

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
)

// Handler serves the part of Prometheus' HTTP API that Grafana, promtool and scripts use
// (query, query_range, query_exemplars, series, labels, label values, targets, metadata,
// rules, alerts, status, build info) and /federate, at paths
// relative to where it is mounted (tend mounts it at /prometheus).
func (m *Monitor) Handler(version string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/query", m.apiQuery)
	mux.HandleFunc("/api/v1/query_range", m.apiQueryRange)
	mux.HandleFunc("/api/v1/series", m.apiSeries)
	mux.HandleFunc("/api/v1/labels", m.apiLabels)
	mux.HandleFunc("GET /api/v1/label/{name}/values", m.apiLabelValues)
	mux.HandleFunc("GET /api/v1/targets", m.apiTargets)
	mux.HandleFunc("GET /api/v1/metadata", m.apiMetadata)
	mux.HandleFunc("/api/v1/query_exemplars", m.apiQueryExemplars)
	mux.HandleFunc("GET /api/v1/rules", m.apiRules)
	mux.HandleFunc("GET /api/v1/alerts", m.apiAlerts)
	mux.HandleFunc("GET /api/v1/status/config", m.apiStatusConfig)
	mux.HandleFunc("GET /api/v1/status/flags", m.apiStatusFlags)
	mux.HandleFunc("GET /api/v1/status/runtimeinfo", m.apiStatusRuntime)
	mux.HandleFunc("GET /api/v1/status/tsdb", m.apiStatusTSDB)
	mux.HandleFunc("/federate", m.apiFederate)
	mux.HandleFunc("GET /api/v1/status/buildinfo", func(w http.ResponseWriter, r *http.Request) {
		// Grafana reads the version to choose its query features: tend speaks the API of Prometheus 3
		ok(w, map[string]string{"version": "3.0.0", "revision": version, "branch": "tend", "goVersion": ""})
	})
	return mux
}

type apiResponse struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

func ok(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(apiResponse{Status: "success", Data: data})
}

// fail answers as Prometheus does: 400 bad_data for a bad request, 422 execution for a
// query that failed, 503 timeout, 500 internal.
func fail(w http.ResponseWriter, err error) {
	code, typ := http.StatusInternalServerError, "internal"
	var qe *QueryError
	var bad badRequest
	switch {
	case errors.As(err, &bad), errors.As(err, &qe) && qe.Bad:
		code, typ = http.StatusBadRequest, "bad_data"
	case errors.As(err, &qe):
		code, typ = http.StatusUnprocessableEntity, "execution"
		var timeout promql.ErrQueryTimeout
		if errors.As(err, &timeout) {
			code, typ = http.StatusServiceUnavailable, "timeout"
		}
	}
	msg := err.Error()
	if qe != nil {
		msg = qe.Err.Error() // as Prometheus answers: the cause, without the query the client sent
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(apiResponse{Status: "error", ErrorType: typ, Error: msg})
}

type badRequest struct{ error }

func badf(format string, a ...any) error { return badRequest{fmt.Errorf(format, a...)} }

// parseTime reads a Prometheus API time: RFC 3339 or Unix seconds; def when empty.
func parseTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// to the millisecond, the TSDB's resolution: float seconds do not hold every millisecond exactly
		return time.UnixMilli(int64(math.Round(f * 1000))), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, badf("cannot parse %q as a time: want RFC 3339 or Unix seconds", s)
}

// parseStep reads a step: seconds ("15", "0.5") or a duration ("15s", "1m").
func parseStep(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
		return time.Duration(f * float64(time.Second)), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, badf("cannot parse step %q: want seconds or a duration like 15s", s)
}

func (m *Monitor) apiQuery(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	t, err := parseTime(r.FormValue("time"), time.Now())
	if err != nil {
		fail(w, err)
		return
	}
	v, err := m.eval(r.Context(), q, t, t, 0)
	if err != nil {
		fail(w, err)
		return
	}
	ok(w, result(v))
}

func (m *Monitor) apiQueryRange(w http.ResponseWriter, r *http.Request) {
	start, err := parseTime(r.FormValue("start"), time.Time{})
	if err == nil && start.IsZero() {
		err = badf("start is required")
	}
	if err != nil {
		fail(w, err)
		return
	}
	end, err := parseTime(r.FormValue("end"), time.Time{})
	if err == nil && end.IsZero() {
		err = badf("end is required")
	}
	if err != nil {
		fail(w, err)
		return
	}
	step, err := parseStep(r.FormValue("step"))
	if err != nil {
		fail(w, err)
		return
	}
	if end.Before(start) {
		fail(w, badf("end %s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339)))
		return
	}
	if end.Sub(start)/step > 11000 {
		fail(w, badf("exceeded maximum resolution of 11,000 points per timeseries: use a larger step"))
		return
	}
	v, err := m.eval(r.Context(), r.FormValue("query"), start, end, step)
	if err != nil {
		fail(w, err)
		return
	}
	ok(w, result(v))
}

// result shapes a PromQL value as the API's {resultType, result}.
func result(v parser.Value) map[string]any {
	var res any = v
	switch x := v.(type) {
	case promql.Vector:
		if x == nil {
			res = promql.Vector{}
		}
	case promql.Matrix:
		if x == nil {
			res = promql.Matrix{}
		}
	}
	return map[string]any{"resultType": v.Type(), "result": res}
}

// selectors parses the match[] parameters; required says whether at least one is needed.
func selectors(r *http.Request, required bool) ([][]*labels.Matcher, error) {
	if err := r.ParseForm(); err != nil {
		return nil, badf("%v", err)
	}
	ms := r.Form["match[]"]
	if len(ms) == 0 && required {
		return nil, badf("no match[] parameter provided")
	}
	p := parser.NewParser(parser.Options{})
	var out [][]*labels.Matcher
	for _, s := range ms {
		m, err := p.ParseMetricSelector(s)
		if err != nil {
			return nil, badf("match[] %q: %v", s, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// window reads start and end for the metadata endpoints (default: all the TSDB holds, as
// Prometheus does).
func window(r *http.Request) (int64, int64, error) {
	start, err := parseTime(r.FormValue("start"), time.Unix(0, 0))
	if err != nil {
		return 0, 0, err
	}
	end, err := parseTime(r.FormValue("end"), time.Now().Add(time.Minute))
	if err != nil {
		return 0, 0, err
	}
	return start.UnixMilli(), end.UnixMilli(), nil
}

// metaQuerier reads the match[] selectors and the start/end window of a metadata request
// (series, labels, label values) and opens a TSDB querier over that window.
func (m *Monitor) metaQuerier(r *http.Request, required bool) (storage.Querier, [][]*labels.Matcher, int64, int64, error) {
	sels, err := selectors(r, required)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	mint, maxt, err := window(r)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	q, err := m.db.Querier(mint, maxt)
	return q, sels, mint, maxt, err
}

func (m *Monitor) apiSeries(w http.ResponseWriter, r *http.Request) {
	q, sels, mint, maxt, err := m.metaQuerier(r, true)
	if err != nil {
		fail(w, err)
		return
	}
	defer q.Close()
	seen := map[uint64]bool{}
	out := []map[string]string{}
	hints := &storage.SelectHints{Start: mint, End: maxt, Func: "series"}
	for _, sel := range sels {
		set := q.Select(r.Context(), false, hints, sel...)
		for set.Next() {
			l := set.At().Labels()
			if !seen[l.Hash()] {
				seen[l.Hash()] = true
				out = append(out, l.Map())
			}
		}
		if err := set.Err(); err != nil {
			fail(w, err)
			return
		}
	}
	ok(w, out)
}

func (m *Monitor) apiLabels(w http.ResponseWriter, r *http.Request) {
	m.labelAPI(w, r, "")
}

func (m *Monitor) apiLabelValues(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !model.LegacyValidation.IsValidLabelName(name) {
		fail(w, badf("invalid label name %q", name))
		return
	}
	m.labelAPI(w, r, name)
}

// labelAPI answers label names (name == "") or one label's values, across every match[].
func (m *Monitor) labelAPI(w http.ResponseWriter, r *http.Request, name string) {
	q, sels, _, _, err := m.metaQuerier(r, false)
	if err != nil {
		fail(w, err)
		return
	}
	defer q.Close()
	if len(sels) == 0 {
		sels = [][]*labels.Matcher{nil}
	}
	set := map[string]bool{}
	for _, sel := range sels {
		var vals []string
		if name == "" {
			vals, _, err = q.LabelNames(r.Context(), nil, sel...)
		} else {
			vals, _, err = q.LabelValues(r.Context(), name, nil, sel...)
		}
		if err != nil {
			fail(w, err)
			return
		}
		for _, v := range vals {
			set[v] = true
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	slices.Sort(out)
	ok(w, out)
}

// apiMetadata lists the type and help of every metric family scraped (optionally one,
// with ?metric=), as Grafana's metric browser asks for them.
func (m *Monitor) apiMetadata(w http.ResponseWriter, r *http.Request) {
	want := r.FormValue("metric")
	out := map[string][]Metadata{}
	m.mu.Lock()
	for name, md := range m.meta {
		if want == "" || name == want {
			out[name] = []Metadata{md}
		}
	}
	m.mu.Unlock()
	ok(w, out)
}

func (m *Monitor) apiTargets(w http.ResponseWriter, r *http.Request) {
	type target struct {
		DiscoveredLabels   map[string]string `json:"discoveredLabels"`
		Labels             map[string]string `json:"labels"`
		ScrapePool         string            `json:"scrapePool"`
		ScrapeURL          string            `json:"scrapeUrl"`
		GlobalURL          string            `json:"globalUrl"`
		LastError          string            `json:"lastError"`
		LastScrape         time.Time         `json:"lastScrape"`
		LastScrapeDuration float64           `json:"lastScrapeDuration"`
		Health             string            `json:"health"`
		ScrapeInterval     string            `json:"scrapeInterval"`
		ScrapeTimeout      string            `json:"scrapeTimeout"`
	}
	active := []target{}
	for _, h := range m.Targets() {
		active = append(active, target{DiscoveredLabels: map[string]string{}, Labels: h.Labels, ScrapePool: h.Labels["job"],
			ScrapeURL: h.ScrapeURL, GlobalURL: h.ScrapeURL, LastError: h.LastError, LastScrape: h.LastScrape,
			LastScrapeDuration: h.Duration, Health: h.Health, ScrapeInterval: m.o.Interval.String(), ScrapeTimeout: m.client.http.Timeout.String()})
	}
	slices.SortFunc(active, func(a, b target) int {
		return cmp.Or(cmp.Compare(a.ScrapePool, b.ScrapePool), cmp.Compare(a.Labels["instance"], b.Labels["instance"]))
	})
	ok(w, map[string]any{"activeTargets": active, "droppedTargets": []any{}})
}
