package trace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
)

// Exporter forwards spans to an external OTLP/HTTP endpoint (Jaeger, Tempo, an
// OpenTelemetry collector) in the background: a bounded queue, dropped batches counted
// and logged rather than ever slowing what sends them.
type Exporter struct {
	url    string
	client *http.Client
	log    *slog.Logger
	queue  chan []Span

	dropped  atomic.Int64
	failed   atomic.Int64
	exported atomic.Int64
	wg       sync.WaitGroup
	stop     chan struct{}
	once     sync.Once
}

// errQueueFull is an export dropped because the external endpoint does not keep up.
var errQueueFull = errors.New("the export queue is full: spans dropped")

// NewExporter starts forwarding to url (the full URL, ".../v1/traces").
func NewExporter(url string, log *slog.Logger) *Exporter {
	if log == nil {
		log = slog.Default()
	}
	e := &Exporter{url: url, client: &http.Client{Timeout: 10 * time.Second}, log: log, queue: make(chan []Span, 256), stop: make(chan struct{})}
	e.wg.Add(1)
	go e.run()
	return e
}

// Export queues spans; a full queue drops them (Dropped counts them).
func (e *Exporter) Export(spans []Span) error {
	if len(spans) == 0 {
		return nil
	}
	select {
	case e.queue <- spans:
		return nil
	default:
		e.dropped.Add(int64(len(spans)))
		return errQueueFull
	}
}

// Dropped, Failed and Exported count spans: dropped for a full queue, failed by the
// endpoint, accepted by it.
func (e *Exporter) Dropped() int64  { return e.dropped.Load() }
func (e *Exporter) Failed() int64   { return e.failed.Load() }
func (e *Exporter) Exported() int64 { return e.exported.Load() }

func (e *Exporter) run() {
	defer e.wg.Done()
	var lastLog time.Time
	for {
		select {
		case <-e.stop:
			return
		case spans := <-e.queue:
			if err := e.send(spans); err != nil {
				e.failed.Add(int64(len(spans)))
				if time.Since(lastLog) > time.Minute {
					lastLog = time.Now()
					e.log.Warn("forward spans to the OTLP endpoint (--otlp-export)", "url", e.url, "err", err, "failedSpans", e.failed.Load(), "droppedSpans", e.dropped.Load())
				}
				continue
			}
			e.exported.Add(int64(len(spans)))
		}
	}
}

func (e *Exporter) send(spans []Span) error {
	body, err := proto.Marshal(ToOTLP(spans))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", e.url, resp.Status)
	}
	return nil
}

// Close stops forwarding; what is still queued is dropped.
func (e *Exporter) Close() {
	e.once.Do(func() { close(e.stop); e.wg.Wait() })
}
