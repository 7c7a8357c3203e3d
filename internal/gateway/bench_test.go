package gateway

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// BenchmarkGateway measures the whole request path as tend gateway serves it (the
// connection loop): table lookup, weighted split, P2C, the proxying over a kept-alive
// loopback connection, metrics. The backend answers 1 KiB; the client is net/http's.
// traced is as tend gateway runs by default: a span per request, 10% of them kept,
// collected as the server does (every second).
func BenchmarkGateway(b *testing.B) {
	b.Run("untraced", func(b *testing.B) { benchGateway(b, nil) })
	b.Run("traced", func(b *testing.B) {
		benchGateway(b, &TraceOptions{SampleRatio: DefaultTraceSample, Slow: DefaultTraceSlow})
	})
}

func benchGateway(b *testing.B, tracing *TraceOptions) {
	body := bytes.Repeat([]byte("x"), 1024)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer backend.Close()
	ep := (&backendServer{Server: backend}).endpoint("hello", 1)
	g := New(Options{Tracing: tracing})
	if tracing != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					g.Spans()
				}
			}
		}()
	}
	g.SetState([]route.Route{{App: "hello", Hosts: []string{"hello.localhost"}, PathPrefix: "/",
		Splits: []route.Split{{Revision: 1, Weight: 90}, {Revision: 2, Weight: 10}}}}, []store.Endpoint{ep})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(g, ServerOptions{})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	frontURL := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, frontURL+"/", nil)
			req.Host = "hello.localhost"
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			buf := make([]byte, 2048)
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
		}
	})
}

// BenchmarkServeHTTPInProcess measures the gateway's net/http handler (the path of
// requests the loop hands to net/http's server), without the client side of the
// network: a recorder as the client, a loopback backend.
func BenchmarkServeHTTPInProcess(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer backend.Close()
	g := New(Options{})
	g.SetState([]route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{(&backendServer{Server: backend}).endpoint("hello", 1)})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "http://hello.localhost/", nil)
		for pb.Next() {
			w := httptest.NewRecorder()
			g.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
