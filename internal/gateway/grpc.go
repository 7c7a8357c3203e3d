package gateway

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// gRPC through the gateway: a route with protocol http2 is proxied over HTTP/2 without
// TLS (h2c) to its instances, which is what gRPC servers speak; clients reach the gateway
// over h2c (prior knowledge) on the plain listener. gRPC answers HTTP 200 and puts its
// own status in the grpc-status trailer (or header, for an answer without a body); the
// gateway reads it at the end of the answer and counts a failed call as the HTTP status
// of the same meaning, so that tend_gateway_requests_total, error-rate analysis,
// HighErrorRate and ejection see gRPC failures as they see HTTP ones.

// isGRPC reports whether a response is a gRPC answer.
func isGRPC(h http.Header) bool {
	ct := h.Get("Content-Type")
	return ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+") || strings.HasPrefix(ct, "application/grpc;")
}

// grpcHTTPStatus maps a gRPC status code to the HTTP status of the same meaning (as
// grpc-gateway and Envoy do); OK is 200.
func grpcHTTPStatus(code int) int {
	switch code {
	case 0:
		return http.StatusOK
	case 1: // CANCELLED: the client gave up
		return statusClientGone
	case 3, 9, 11: // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
		return http.StatusBadRequest
	case 4: // DEADLINE_EXCEEDED
		return http.StatusGatewayTimeout
	case 5:
		return http.StatusNotFound
	case 6, 10: // ALREADY_EXISTS, ABORTED
		return http.StatusConflict
	case 7:
		return http.StatusForbidden
	case 8: // RESOURCE_EXHAUSTED
		return http.StatusTooManyRequests
	case 12:
		return http.StatusNotImplemented
	case 14: // UNAVAILABLE
		return http.StatusServiceUnavailable
	case 16:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError // UNKNOWN, INTERNAL, DATA_LOSS and codes to come
}

// grpcStatus reads grpc-status from h; ok is false when it has none.
func grpcStatus(h http.Header) (int, bool) {
	v := h.Get("Grpc-Status")
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 2, true // UNKNOWN
	}
	return n, true
}

// grpcBody wraps a gRPC answer's body: at its end (the trailers are read by then) it
// records the call's status for metrics and outlier ejection.
type grpcBody struct {
	io.ReadCloser
	resp *http.Response
	g    *Gateway
	st   *reqState
	done bool
}

func (b *grpcBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.g.grpcResult(b.st, b.resp)
	}
	return n, err
}

// grpcResult records a finished gRPC call: its status from the trailers, or from the
// head when the answer had no body.
func (g *Gateway) grpcResult(st *reqState, resp *http.Response) {
	code, ok := grpcStatus(resp.Trailer)
	if !ok {
		code, ok = grpcStatus(resp.Header)
	}
	if !ok {
		code = 2 // an answer that ends without a status: UNKNOWN, as a gRPC client sees it
	}
	st.code = grpcHTTPStatus(code)
	if code == 4 && !st.grpcDeadline.IsZero() {
		st.code = statusClientGone // DEADLINE_EXCEEDED of the deadline the client chose
	}
	if st.route.result(st.backend, st.code >= 500) {
		g.ejected(st.route, st.backend)
	}
}

// grpcTimeout reads a gRPC call's grpc-timeout header ("100m" is 100 milliseconds).
func grpcTimeout(h http.Header) (time.Duration, bool) {
	v := h.Get("Grpc-Timeout")
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	return time.Duration(n) * unit, true
}
