package monitor

import (
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"google.golang.org/protobuf/proto"
)

// federationLookback is how old a series' latest sample may be and still be federated:
// PromQL's default lookback, as Prometheus' own /federate uses.
const federationLookback = 5 * time.Minute

// apiFederate serves /federate as Prometheus does, so that a Prometheus server can
// scrape tend's TSDB (honor_labels: true, params match[]): the latest sample of every
// series the match[] selectors select, at most five minutes old, with its timestamp,
// as untyped samples in the exposition format the scraper asks for.
func (m *Monitor) apiFederate(w http.ResponseWriter, r *http.Request) {
	sels, err := selectors(r, true)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	maxt, mint := now.UnixMilli(), now.Add(-federationLookback).UnixMilli()
	q, err := m.db.Querier(mint, maxt)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer q.Close()
	hints := &storage.SelectHints{Start: mint, End: maxt}
	var sets []storage.SeriesSet
	for _, sel := range sels {
		sets = append(sets, q.Select(r.Context(), true, hints, sel...))
	}
	set := storage.NewMergeSeriesSet(sets, 0, storage.ChainedSeriesMerge)
	families := map[string]*dto.MetricFamily{}
	var it chunkenc.Iterator
	for set.Next() {
		s := set.At()
		it = s.Iterator(it)
		var t int64 = -1
		var v float64
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				continue // native histograms: the text format cannot carry them
			}
			ts, val := it.At()
			if ts > maxt {
				break
			}
			t, v = ts, val
		}
		if it.Err() != nil || t < 0 || value.IsStaleNaN(v) {
			continue
		}
		name := s.Labels().Get(labels.MetricName)
		mf := families[name]
		if mf == nil {
			mf = &dto.MetricFamily{Name: proto.String(name), Type: dto.MetricType_UNTYPED.Enum()}
			families[name] = mf
		}
		metric := &dto.Metric{Untyped: &dto.Untyped{Value: proto.Float64(v)}, TimestampMs: proto.Int64(t)}
		s.Labels().Range(func(l labels.Label) {
			if l.Name != labels.MetricName {
				metric.Label = append(metric.Label, &dto.LabelPair{Name: proto.String(l.Name), Value: proto.String(l.Value)})
			}
		})
		mf.Metric = append(mf.Metric, metric)
	}
	if err := set.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	sort.Strings(names)
	format := expfmt.Negotiate(r.Header)
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, n := range names {
		if err := enc.Encode(families[n]); err != nil {
			return // the scraper went away
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close()
	}
}
