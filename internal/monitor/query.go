package monitor

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Querier answers PromQL: the embedded engine (Monitor) or an external Prometheus (Remote).
type Querier interface {
	// Query evaluates an instant query at t.
	Query(ctx context.Context, q string, t time.Time) (Vector, error)
	// QueryRange evaluates q at every step from start to end.
	QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (Matrix, error)
}

// CheckQuery says whether q parses as PromQL.
func CheckQuery(q string) error {
	_, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	return err
}

// Sample is one series' value at one instant.
type Sample struct {
	Labels map[string]string `json:"metric"`
	Value  float64           `json:"value"`
	T      time.Time         `json:"t"`
}

// Vector is the result of an instant query; a scalar result is one sample without labels.
type Vector []Sample

// Series is one series' values over a range.
type Series struct {
	Labels map[string]string `json:"metric"`
	Points []Point           `json:"points"`
}

// Point is one value of a series.
type Point struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
}

// Matrix is the result of a range query.
type Matrix []Series

// Query evaluates q against the embedded TSDB at t.
func (m *Monitor) Query(ctx context.Context, q string, t time.Time) (Vector, error) {
	v, err := m.eval(ctx, q, t, t, 0)
	if err != nil {
		return nil, err
	}
	switch r := v.(type) {
	case promql.Vector:
		out := make(Vector, 0, len(r))
		for _, s := range r {
			out = append(out, Sample{Labels: s.Metric.Map(), Value: s.F, T: time.UnixMilli(s.T)})
		}
		return out, nil
	case promql.Scalar:
		return Vector{{Labels: map[string]string{}, Value: r.V, T: time.UnixMilli(r.T)}}, nil
	default:
		return nil, fmt.Errorf("query %q: want an instant vector or a scalar, got a %s", q, v.Type())
	}
}

// QueryRange evaluates q against the embedded TSDB at each step from start to end.
func (m *Monitor) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (Matrix, error) {
	v, err := m.eval(ctx, q, start, end, step)
	if err != nil {
		return nil, err
	}
	r, ok := v.(promql.Matrix)
	if !ok {
		return nil, fmt.Errorf("query %q: a range query gave a %s", q, v.Type())
	}
	out := make(Matrix, 0, len(r))
	for _, s := range r {
		ser := Series{Labels: s.Metric.Map(), Points: make([]Point, 0, len(s.Floats))}
		for _, p := range s.Floats {
			if !math.IsNaN(p.F) {
				ser.Points = append(ser.Points, Point{T: time.UnixMilli(p.T), V: p.F})
			}
		}
		out = append(out, ser)
	}
	return out, nil
}

// eval runs an instant (step 0) or range query and returns its raw value.
func (m *Monitor) eval(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error) {
	var qry promql.Query
	var err error
	if step == 0 {
		qry, err = m.engine.NewInstantQuery(ctx, m.db, nil, q, start)
	} else {
		qry, err = m.engine.NewRangeQuery(ctx, m.db, nil, q, start, end, step)
	}
	if err != nil {
		return nil, &QueryError{Query: q, Bad: true, Err: err}
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, &QueryError{Query: q, Err: res.Err}
	}
	return res.Value, nil
}

// QueryError is a query that could not be parsed (Bad) or evaluated.
type QueryError struct {
	Query string
	Bad   bool
	Err   error
}

func (e *QueryError) Error() string { return fmt.Sprintf("query %q: %v", e.Query, e.Err) }
func (e *QueryError) Unwrap() error { return e.Err }
