package monitor

import (
	"net/http"
	"strconv"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/promql/parser"
)

// Exemplars returns the exemplars the TSDB keeps for the series a PromQL expression
// selects, between two Unix-ms times: for the gateway's latency buckets, the trace ids
// of kept requests.
func (m *Monitor) Exemplars(r *http.Request, query string, start, end int64) ([]exemplar.QueryResult, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(query)
	if err != nil {
		return nil, badf("%v", err)
	}
	sels := parser.ExtractSelectors(expr)
	if len(sels) == 0 {
		return []exemplar.QueryResult{}, nil
	}
	q, err := m.db.ExemplarQuerier(r.Context())
	if err != nil {
		return nil, err
	}
	return q.Select(start, end, sels...)
}

// apiQueryExemplars answers /api/v1/query_exemplars as Prometheus does: query, start and
// end (default: everything kept).
func (m *Monitor) apiQueryExemplars(w http.ResponseWriter, r *http.Request) {
	start, end, err := window(r)
	if err != nil {
		fail(w, err)
		return
	}
	res, err := m.Exemplars(r, r.FormValue("query"), start, end)
	if err != nil {
		fail(w, err)
		return
	}
	type exemplarJSON struct {
		Labels    map[string]string `json:"labels"`
		Value     string            `json:"value"`
		Timestamp float64           `json:"timestamp"`
	}
	type resultJSON struct {
		SeriesLabels map[string]string `json:"seriesLabels"`
		Exemplars    []exemplarJSON    `json:"exemplars"`
	}
	out := []resultJSON{}
	for _, s := range res {
		j := resultJSON{SeriesLabels: s.SeriesLabels.Map(), Exemplars: []exemplarJSON{}}
		for _, e := range s.Exemplars {
			j.Exemplars = append(j.Exemplars, exemplarJSON{Labels: e.Labels.Map(), Value: strconv.FormatFloat(e.Value, 'f', -1, 64), Timestamp: float64(e.Ts) / 1000})
		}
		out = append(out, j)
	}
	ok(w, out)
}
