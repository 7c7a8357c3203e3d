package trace

import (
	"compress/gzip"
	"fmt"
	"io"
	"mime"
	"net/http"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// DefaultMaxRequestBytes bounds an export request's body, uncompressed.
const DefaultMaxRequestBytes = 16 << 20

// Receiver is an OTLP/HTTP trace endpoint (POST /v1/traces): protobuf or JSON bodies,
// gzip-compressed or not, as the OpenTelemetry SDKs and collectors send them.
type Receiver struct {
	// Add takes the spans of each request; an error answers 503, so that the sender retries.
	Add func([]Span) error
	// MaxBytes bounds a request's body (0: DefaultMaxRequestBytes).
	MaxBytes int64
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "OTLP/HTTP takes POST /v1/traces", http.StatusMethodNotAllowed)
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-protobuf" && ct != "application/json" {
		http.Error(w, "OTLP/HTTP bodies are application/x-protobuf or application/json, not "+ct, http.StatusUnsupportedMediaType)
		return
	}
	limit := rc.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxRequestBytes
	}
	body := io.Reader(r.Body)
	switch r.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "Content-Encoding gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	default:
		http.Error(w, "Content-Encoding "+r.Header.Get("Content-Encoding")+": this receiver takes gzip or none", http.StatusUnsupportedMediaType)
		return
	}
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		http.Error(w, "read the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if int64(len(b)) > limit {
		http.Error(w, fmt.Sprintf("an export request of more than %d bytes: send smaller batches", limit), http.StatusRequestEntityTooLarge)
		return
	}
	var req collectorpb.ExportTraceServiceRequest
	if ct == "application/json" {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, &req)
	} else {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, "not an OTLP ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	spans, skipped := FromOTLP(&req)
	if err := rc.Add(spans); err != nil {
		http.Error(w, "store the spans: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	resp := &collectorpb.ExportTraceServiceResponse{}
	if skipped > 0 {
		resp.PartialSuccess = &collectorpb.ExportTracePartialSuccess{RejectedSpans: int64(skipped), ErrorMessage: "spans without a valid trace id or span id"}
	}
	var out []byte
	if ct == "application/json" {
		out, err = protojson.Marshal(resp)
	} else {
		out, err = proto.Marshal(resp)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(out)
}
