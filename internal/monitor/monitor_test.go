package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// instance is a fake app instance serving a counter and a histogram on /metrics.
func instance(t *testing.T) (*httptest.Server, prometheus.Counter, prometheus.Histogram) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "orders_total", Help: "orders", ConstLabels: prometheus.Labels{"instance": "scraped"}})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "work_seconds", Help: "work", Buckets: []float64{.1, .5, 1}})
	reg.MustRegister(c, h)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv, c, h
}

func open(t *testing.T, targets func(context.Context) []Target, self prometheus.Gatherer) *Monitor {
	t.Helper()
	m, err := Open(Options{Dir: t.TempDir(), Interval: time.Second, Targets: targets, Self: self})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestScrapeStoresSeriesWithTargetLabels(t *testing.T) {
	srv, c, h := instance(t)
	gw := prometheus.NewRegistry()
	gwCounter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tend_gateway_requests_total", Help: "x"}, []string{"app", "revision", "instance"})
	gw.MustRegister(gwCounter)
	gwCounter.WithLabelValues("shop", "2", "shop-2-abcd").Add(7)
	targets := []Target{{App: "shop", Revision: 2, Instance: "shop-2-abcd", Role: "canary", URL: srv.URL + "/metrics", PID: os.Getpid(), Restarts: 4, MemoryLimit: 256 << 20},
		{App: "shop", Revision: 1, Instance: "shop-1-dead", Role: "stable", URL: "http://127.0.0.1:1/metrics"}}
	m := open(t, func(context.Context) []Target { return targets }, gw)
	ctx := context.Background()
	t0 := time.Now().Add(-10 * time.Second)
	c.Add(10)
	h.Observe(0.3)
	m.scrapeSelf(ctx, t0)
	m.scrapeTargets(ctx, t0)
	c.Add(50)
	m.scrapeSelf(ctx, t0.Add(5*time.Second))
	m.scrapeTargets(ctx, t0.Add(5*time.Second))

	at := t0.Add(5 * time.Second)
	v, err := m.Query(ctx, `orders_total{app="shop",revision="2",role="canary",instance="shop-2-abcd"}`, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || v[0].Value != 60 || v[0].Labels["exported_instance"] != "scraped" {
		t.Fatalf("orders_total = %+v, want one series of 60 whose scraped instance label became exported_instance", v)
	}
	v, err = m.Query(ctx, `increase(orders_total[10s])`, at)
	if err != nil || len(v) != 1 || v[0].Value < 50 {
		t.Fatalf("increase(orders_total[10s]) = %+v, %v; want at least the 50 added between scrapes", v, err)
	}
	v, _ = m.Query(ctx, `work_seconds_bucket{le="0.5"}`, at)
	if len(v) != 1 || v[0].Value != 1 {
		t.Fatalf("histogram bucket le=0.5 = %+v, want 1", v)
	}
	v, _ = m.Query(ctx, `up`, at)
	up := map[string]float64{}
	for _, s := range v {
		up[s.Labels["job"]+"/"+s.Labels["instance"]] = s.Value
	}
	if up["shop/shop-2-abcd"] != 1 || up["shop/shop-1-dead"] != 0 || up["tend/"] != 1 {
		t.Fatalf("up = %v, want the live instance 1, the dead one 0 and tend 1", up)
	}
	// tend's own metrics keep their labels: the gateway's instance label is the app instance
	v, _ = m.Query(ctx, `tend_gateway_requests_total{job="tend",instance="shop-2-abcd"}`, at)
	if len(v) != 1 || v[0].Value != 7 {
		t.Fatalf("gateway counter = %+v, want 7 with its own labels", v)
	}
	v, _ = m.Query(ctx, `tend_instance_resident_memory_bytes{instance="shop-2-abcd"}`, at)
	if len(v) != 1 || v[0].Value < 1<<20 {
		t.Fatalf("resident memory from /proc = %+v, want this test's RSS (over 1 MiB)", v)
	}
	v, _ = m.Query(ctx, `tend_instance_restarts_total{instance="shop-2-abcd"} + on(instance) tend_instance_memory_limit_bytes`, at)
	if len(v) != 1 || v[0].Value != 4+256<<20 {
		t.Fatalf("restarts + memory limit = %+v, want 4 restarts and 256 MiB", v)
	}

	// a target that goes away is stale at once, not for the 5 minute lookback
	targets = targets[:1]
	m.scrapeSelf(ctx, t0.Add(6*time.Second))
	m.scrapeTargets(ctx, t0.Add(6*time.Second))
	v, _ = m.Query(ctx, `up{instance="shop-1-dead"}`, t0.Add(7*time.Second))
	if len(v) != 0 {
		t.Fatalf("up of a removed target = %+v, want nothing (stale)", v)
	}
}

func TestAPIAnswersLikePrometheusAndRemoteReadsIt(t *testing.T) {
	srv, c, _ := instance(t)
	m := open(t, func(context.Context) []Target {
		return []Target{{App: "shop", Revision: 1, Instance: "shop-1-a", Role: "stable", URL: srv.URL + "/metrics"}}
	}, nil)
	ctx := context.Background()
	now := time.Now()
	for i := 4; i >= 0; i-- {
		c.Add(5)
		m.scrapeSelf(ctx, now.Add(-time.Duration(i)*time.Second))
		m.scrapeTargets(ctx, now.Add(-time.Duration(i)*time.Second))
	}
	api := httptest.NewServer(m.Handler("test"))
	defer api.Close()

	get := func(path string, v url.Values) (int, map[string]any) {
		resp, err := http.Get(api.URL + path + "?" + v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	code, body := get("/api/v1/query", url.Values{"query": {"up"}})
	data, _ := body["data"].(map[string]any)
	if code != 200 || body["status"] != "success" || data["resultType"] != "vector" || len(data["result"].([]any)) != 1 {
		t.Fatalf("query up: %d %v", code, body)
	}
	code, body = get("/api/v1/query", url.Values{"query": {"up{"}})
	if msg, _ := body["error"].(string); code != 400 || body["errorType"] != "bad_data" || !strings.Contains(msg, "parse error") || strings.Contains(msg, "up{") {
		t.Fatalf("a bad query: %d %v, want 400 bad_data with the parse error (and not the query, which the client has)", code, body)
	}
	code, body = get("/api/v1/query_range", url.Values{"query": {"orders_total"}, "start": {formatUnix(now.Add(-4 * time.Second))},
		"end": {formatUnix(now)}, "step": {"1"}})
	data, _ = body["data"].(map[string]any)
	if code != 200 || data["resultType"] != "matrix" {
		t.Fatalf("query_range: %d %v", code, body)
	}
	if vals := data["result"].([]any)[0].(map[string]any)["values"].([]any); len(vals) != 5 {
		t.Fatalf("query_range gave %d points, want 5", len(vals))
	}
	code, body = get("/api/v1/label/app/values", nil)
	if code != 200 || len(body["data"].([]any)) != 1 || body["data"].([]any)[0] != "shop" {
		t.Fatalf("label values of app: %d %v", code, body)
	}
	code, body = get("/api/v1/labels", nil)
	if code != 200 || len(body["data"].([]any)) < 5 {
		t.Fatalf("labels: %d %v", code, body)
	}
	code, body = get("/api/v1/series", url.Values{"match[]": {`orders_total{app="shop"}`}})
	if code != 200 || len(body["data"].([]any)) != 1 {
		t.Fatalf("series: %d %v", code, body)
	}
	code, body = get("/api/v1/metadata", url.Values{"metric": {"orders_total"}})
	if md, _ := body["data"].(map[string]any)["orders_total"].([]any); code != 200 || len(md) != 1 ||
		md[0].(map[string]any)["type"] != "counter" || md[0].(map[string]any)["help"] != "orders" {
		t.Fatalf("metadata of orders_total: %d %v, want one counter with its help", code, body)
	}
	code, body = get("/api/v1/targets", nil)
	targets := body["data"].(map[string]any)["activeTargets"].([]any)
	if code != 200 || len(targets) != 1 || targets[0].(map[string]any)["health"] != "up" {
		t.Fatalf("targets: %d %v", code, body)
	}

	// /federate: the latest sample of each selected series with its timestamp, untyped
	fed := func(v url.Values) (int, string) {
		resp, err := http.Get(api.URL + "/federate?" + v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, text := fed(url.Values{"match[]": {`orders_total`}})
	want := fmt.Sprintf(`orders_total{app="shop",exported_instance="scraped",instance="shop-1-a",job="shop",revision="1",role="stable"} 25 %d`, now.UnixMilli())
	if code != 200 || !strings.Contains(text, "# TYPE orders_total untyped\n"+want+"\n") || strings.Count(text, "\n") != 2 {
		t.Fatalf("federate orders_total: %d\n%s\nwant only\n%s", code, text, want)
	}
	if code, text = fed(url.Values{"match[]": {`up`, `orders_total`}}); code != 200 || !strings.Contains(text, "\nup{") || !strings.Contains(text, "\norders_total{") {
		t.Fatalf("federate with two match[]: %d\n%s", code, text)
	}
	if code, text = fed(nil); code != 400 || !strings.Contains(text, "match[]") {
		t.Fatalf("federate without match[]: %d %s, want 400 naming match[]", code, text)
	}
	for _, p := range []string{"config", "flags", "runtimeinfo", "tsdb"} {
		code, body = get("/api/v1/status/"+p, nil)
		if code != 200 || body["status"] != "success" {
			t.Fatalf("status/%s: %d %v", p, code, body)
		}
	}
	if n := body["data"].(map[string]any)["headStats"].(map[string]any)["numSeries"].(float64); n < 3 {
		t.Fatalf("status/tsdb: %v series in the head, want the scraped ones", n)
	}

	// the Remote querier (for --prometheus-url) reads the same API
	r := &Remote{URL: api.URL}
	v, err := r.Query(ctx, `sum(orders_total)`, now)
	if err != nil || len(v) != 1 || v[0].Value != 25 {
		t.Fatalf("remote query = %+v, %v; want 25", v, err)
	}
	mx, err := r.QueryRange(ctx, `orders_total`, now.Add(-4*time.Second), now, time.Second)
	if err != nil || len(mx) != 1 || len(mx[0].Points) != 5 || mx[0].Points[4].V != 25 {
		t.Fatalf("remote range query = %+v, %v", mx, err)
	}
	if _, err := r.Query(ctx, `up{`, now); err == nil {
		t.Fatal("remote: a bad query gave no error")
	}
}

// The gateway's latency buckets carry the trace ids of kept requests as exemplars: the
// TSDB keeps them and /api/v1/query_exemplars answers them as Prometheus does.
func TestExemplarsOfTheGatewaysHistogramAreKeptAndQueried(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tend_gateway_request_duration_seconds", Help: "x", Buckets: []float64{.1, 1}}, []string{"app"})
	reg.MustRegister(h)
	m := open(t, nil, reg)
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	h.WithLabelValues("shop").(prometheus.ExemplarObserver).ObserveWithExemplar(0.5, prometheus.Labels{"trace_id": id})
	h.WithLabelValues("shop").Observe(0.05)
	now := time.Now()
	m.scrapeSelf(context.Background(), now)
	m.scrapeSelf(context.Background(), now.Add(time.Second)) // the same exemplar again: kept once
	api := httptest.NewServer(m.Handler("test"))
	defer api.Close()
	resp, err := http.Get(api.URL + "/api/v1/query_exemplars?" + url.Values{"query": {`histogram_quantile(0.99, rate(tend_gateway_request_duration_seconds_bucket{app="shop"}[1m]))`},
		"start": {formatUnix(now.Add(-time.Minute))}, "end": {formatUnix(now.Add(time.Minute))}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   []struct {
			SeriesLabels map[string]string `json:"seriesLabels"`
			Exemplars    []struct {
				Labels map[string]string `json:"labels"`
				Value  string            `json:"value"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "success" || len(body.Data) != 1 || body.Data[0].SeriesLabels["le"] != "1" || len(body.Data[0].Exemplars) != 1 ||
		body.Data[0].Exemplars[0].Labels["trace_id"] != id || body.Data[0].Exemplars[0].Value != "0.5" {
		t.Fatalf("query_exemplars: %+v, want the 0.5s request's trace id on the le=1 bucket, once", body)
	}
}

// An app's own histograms' exemplars come through its scrape too (in protobuf, which
// the scrape asks for first).
func TestAnAppsExemplarsAreScraped(t *testing.T) {
	srv, _, h := instance(t)
	m := open(t, func(context.Context) []Target {
		return []Target{{App: "shop", Revision: 1, Instance: "shop-1-a", Role: "stable", URL: srv.URL + "/metrics"}}
	}, nil)
	const id = "0af7651916cd43dd8448eb211c80319c"
	h.(prometheus.ExemplarObserver).ObserveWithExemplar(0.7, prometheus.Labels{"trace_id": id})
	now := time.Now()
	m.scrapeTargets(context.Background(), now)
	req := httptest.NewRequest("GET", "/", nil)
	res, err := m.Exemplars(req, `work_seconds_bucket{app="shop"}`, now.Add(-time.Minute).UnixMilli(), now.Add(time.Minute).UnixMilli())
	if err != nil || len(res) != 1 || len(res[0].Exemplars) != 1 || res[0].Exemplars[0].Labels.Get("trace_id") != id ||
		res[0].SeriesLabels.Get("instance") != "shop-1-a" {
		t.Fatalf("exemplars of the app's histogram: %v %+v, want its one, on the instance's series", err, res)
	}
}
