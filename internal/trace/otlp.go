package trace

import (
	"fmt"
	"sort"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

var kinds = map[tracepb.Span_SpanKind]Kind{tracepb.Span_SPAN_KIND_INTERNAL: KindInternal, tracepb.Span_SPAN_KIND_SERVER: KindServer,
	tracepb.Span_SPAN_KIND_CLIENT: KindClient, tracepb.Span_SPAN_KIND_PRODUCER: KindProducer, tracepb.Span_SPAN_KIND_CONSUMER: KindConsumer}

// FromOTLP reads the spans of an OTLP export request. Spans without a valid trace or
// span id are left out and counted in skipped.
func FromOTLP(req *collectorpb.ExportTraceServiceRequest) (spans []Span, skipped int) {
	for _, rs := range req.GetResourceSpans() {
		resource := attributes(rs.GetResource().GetAttributes())
		service, _ := resource["service.name"].(string)
		delete(resource, "service.name")
		if service == "" {
			service = "unknown_service"
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				var s Span
				if len(sp.GetTraceId()) != len(s.Trace) || len(sp.GetSpanId()) != len(s.ID) {
					skipped++
					continue
				}
				copy(s.Trace[:], sp.GetTraceId())
				copy(s.ID[:], sp.GetSpanId())
				if len(sp.GetParentSpanId()) == len(s.Parent) {
					copy(s.Parent[:], sp.GetParentSpanId())
				}
				if s.Trace.IsZero() || s.ID.IsZero() {
					skipped++
					continue
				}
				s.Service, s.Name, s.Kind = service, sp.GetName(), kinds[sp.GetKind()]
				if s.Kind == "" {
					s.Kind = KindInternal
				}
				s.Start = time.Unix(0, int64(sp.GetStartTimeUnixNano())).UTC()
				s.End = time.Unix(0, int64(sp.GetEndTimeUnixNano())).UTC()
				if s.End.Before(s.Start) {
					s.End = s.Start
				}
				s.Error = sp.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR
				s.Message = sp.GetStatus().GetMessage()
				s.Attributes = attributes(sp.GetAttributes())
				if len(resource) > 0 {
					s.Resource = resource
				}
				spans = append(spans, s)
			}
		}
	}
	return spans, skipped
}

// ToOTLP makes an OTLP export request of spans, one resource per service.
func ToOTLP(spans []Span) *collectorpb.ExportTraceServiceRequest {
	byService := map[string][]Span{}
	for _, s := range spans {
		byService[s.Service] = append(byService[s.Service], s)
	}
	services := make([]string, 0, len(byService))
	for name := range byService {
		services = append(services, name)
	}
	sort.Strings(services)
	req := &collectorpb.ExportTraceServiceRequest{}
	for _, name := range services {
		group := byService[name]
		res := map[string]any{"service.name": name}
		for k, v := range group[0].Resource {
			res[k] = v
		}
		ss := &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "tend"}}
		for _, s := range group {
			ss.Spans = append(ss.Spans, toOTLPSpan(s))
		}
		req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{
			Resource: &resourcepb.Resource{Attributes: keyValues(res)}, ScopeSpans: []*tracepb.ScopeSpans{ss}})
	}
	return req
}

func toOTLPSpan(s Span) *tracepb.Span {
	sp := &tracepb.Span{TraceId: s.Trace[:], SpanId: s.ID[:], Name: s.Name, Kind: tracepb.Span_SPAN_KIND_INTERNAL,
		StartTimeUnixNano: uint64(s.Start.UnixNano()), EndTimeUnixNano: uint64(s.End.UnixNano()), Attributes: keyValues(s.Attributes)}
	if !s.Parent.IsZero() {
		sp.ParentSpanId = s.Parent[:]
	}
	for k, kind := range kinds {
		if kind == s.Kind {
			sp.Kind = k
		}
	}
	if s.Error {
		sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: s.Message}
	}
	return sp
}

// attributes reads OTLP key-values: strings, integers, floats and booleans as they are,
// anything else (arrays, maps, bytes) as its text.
func attributes(kvs []*commonpb.KeyValue) map[string]any {
	if len(kvs) == 0 {
		return nil
	}
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			out[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			out[kv.GetKey()] = v.IntValue
		case *commonpb.AnyValue_DoubleValue:
			out[kv.GetKey()] = v.DoubleValue
		case *commonpb.AnyValue_BoolValue:
			out[kv.GetKey()] = v.BoolValue
		case nil:
		default:
			out[kv.GetKey()] = kv.GetValue().String()
		}
	}
	return out
}

func keyValues(m map[string]any) []*commonpb.KeyValue {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*commonpb.KeyValue, 0, len(keys))
	for _, k := range keys {
		var v commonpb.AnyValue
		switch x := m[k].(type) {
		case string:
			v.Value = &commonpb.AnyValue_StringValue{StringValue: x}
		case int64:
			v.Value = &commonpb.AnyValue_IntValue{IntValue: x}
		case int:
			v.Value = &commonpb.AnyValue_IntValue{IntValue: int64(x)}
		case float64:
			v.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: x}
		case bool:
			v.Value = &commonpb.AnyValue_BoolValue{BoolValue: x}
		default:
			v.Value = &commonpb.AnyValue_StringValue{StringValue: fmt.Sprint(x)}
		}
		out = append(out, &commonpb.KeyValue{Key: k, Value: &v})
	}
	return out
}

// Marshal is spans as an OTLP export request in protobuf.
func Marshal(spans []Span) ([]byte, error) { return proto.Marshal(ToOTLP(spans)) }

// Unmarshal reads an OTLP export request in protobuf: its spans, and how many it held
// without a valid trace or span id.
func Unmarshal(b []byte) (spans []Span, skipped int, err error) {
	var req collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		return nil, 0, fmt.Errorf("decode OTLP spans: %w", err)
	}
	spans, skipped = FromOTLP(&req)
	return spans, skipped, nil
}
