package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
	"github.com/tendhq/tend/internal/trace"
)

// The instance gets the traceparent of the gateway's span; the client learns it too.
func TestARequestIsTracedThroughTheGateway(t *testing.T) {
	seen := make(chan string, 10)
	b := startBackend(t, "b1", func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Traceparent")
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		if r.URL.Path == "/slow" {
			time.Sleep(60 * time.Millisecond)
		}
	})
	reg := prometheus.NewRegistry()
	g := New(Options{Tracing: &TraceOptions{SampleRatio: 0, Slow: 50 * time.Millisecond}, Registerer: reg})
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 3)})

	// a client's sampled trace is continued: same trace, the client's span as parent
	const client = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	code, _, h := do(t, "GET", url+"/ok", "Traceparent", client)
	upstream := <-seen
	if code != 200 || !strings.HasPrefix(upstream, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasSuffix(upstream, "-01") ||
		strings.Contains(upstream, "00f067aa0ba902b7") || h.Get("Traceparent") != upstream {
		t.Fatalf("the instance got traceparent %q, the client %q: want the client's trace, the gateway's span, sampled", upstream, h.Get("Traceparent"))
	}
	// without one, a trace starts; at ratio 0 it is not sampled, and a fast success keeps no span
	do(t, "GET", url+"/ok")
	fresh := <-seen
	if _, _, flags, ok := parseTraceparent(fresh); !ok || flags != 0 || strings.Contains(fresh, "4bf92f35") {
		t.Fatalf("a request without traceparent reached the instance with %q: want a new, unsampled trace", fresh)
	}
	// a failure and a slow request keep theirs, decided at their end
	do(t, "GET", url+"/fail")
	failed := <-seen
	do(t, "GET", url+"/slow")
	slow := <-seen

	// a request with a body takes net/http's path through the gateway: the same holds
	resp, err := http.Post(url+"/fail", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	posted := <-seen
	if _, _, _, ok := parseTraceparent(posted); !ok || resp.Header.Get("Traceparent") != posted {
		t.Fatalf("a POST reached the instance with traceparent %q, the client got %q", posted, resp.Header.Get("Traceparent"))
	}

	spans, dropped := g.Spans()
	if len(spans) != 4 || dropped != 0 {
		t.Fatalf("%d spans kept (%d dropped), want the sampled, the failed, the slow one and the failed POST: %+v", len(spans), dropped, spans)
	}
	byPath := map[string]trace.Span{}
	for _, s := range spans {
		byPath[s.Attributes["http.request.method"].(string)+" "+s.Attributes["url.path"].(string)] = s
	}
	if p := byPath["POST /fail"]; !p.Error || !strings.Contains(posted, p.ID.String()) {
		t.Errorf("the POST's span: %+v (instance saw %q)", p, posted)
	}
	ok := byPath["GET /ok"]
	if ok.Trace.String() != "4bf92f3577b34da6a3ce929d0e0e4736" || ok.Parent.String() != "00f067aa0ba902b7" || ok.Service != GatewayService ||
		ok.Attributes["tend.app"] != "hello" || ok.Attributes["tend.revision"] != int64(3) || ok.Attributes["tend.instance"] != "b1" ||
		ok.Attributes["http.response.status_code"] != int64(200) || ok.Error || ok.App() != "hello" {
		t.Errorf("the sampled span: %+v", ok)
	}
	if !strings.Contains(upstream, ok.ID.String()) {
		t.Errorf("the instance's parent %q is not the gateway span %s", upstream, ok.ID)
	}
	if f := byPath["GET /fail"]; !f.Error || f.Attributes["http.response.status_code"] != int64(500) || !strings.Contains(failed, f.Trace.String()) {
		t.Errorf("the failed span: %+v (instance saw %q)", f, failed)
	}
	if s := byPath["GET /slow"]; s.Duration() < 50*time.Millisecond || !strings.Contains(slow, s.Trace.String()) {
		t.Errorf("the slow span: %+v", s)
	}
	if again, _ := g.Spans(); len(again) != 0 {
		t.Errorf("spans are collected once: %d again", len(again))
	}
	// the latency histogram's buckets carry the kept requests' trace ids as exemplars
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exemplars := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "tend_gateway_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, bk := range m.GetHistogram().GetBucket() {
				for _, l := range bk.GetExemplar().GetLabel() {
					exemplars[l.GetValue()] = true
				}
			}
		}
	}
	// (a bucket keeps its latest: the POST's failure replaced the GET's)
	if !exemplars[byPath["GET /slow"].Trace.String()] || !exemplars[byPath["POST /fail"].Trace.String()] || exemplars[strings.Split(fresh, "-")[1]] {
		t.Errorf("exemplars of tend_gateway_request_duration_seconds: %v; want the slow and the last failed request's traces, not the unsampled fast one's", exemplars)
	}
}

func TestATraceparentThatIsNotOneStartsATrace(t *testing.T) {
	for _, v := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"} {
		if _, _, _, ok := parseTraceparent(v); ok {
			t.Errorf("%q taken as a traceparent", v)
		}
	}
	if tid, pid, flags, ok := parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"); !ok || flags != 1 || tid.IsZero() || pid.IsZero() {
		t.Errorf("a later version's traceparent, with a field more, is read by its first four")
	}
}
