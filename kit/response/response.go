// Package response observes an http.ResponseWriter: the status and size of what a handler wrote.
package response

import (
	"net/http"
)

// Recorder passes writes through and remembers the status code and the bytes written.
// Flush, Hijack and the other optional interfaces stay reachable through
// http.ResponseController, which uses Unwrap.
type Recorder struct {
	http.ResponseWriter
	Status int
	Bytes  int64
}

// Wrap returns w as a Recorder, reusing w when it already is one.
func Wrap(w http.ResponseWriter) *Recorder {
	if r, ok := w.(*Recorder); ok {
		return r
	}
	return &Recorder{ResponseWriter: w}
}

// WriteHeader records the status.
func (r *Recorder) WriteHeader(code int) {
	if r.Status == 0 {
		r.Status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records the bytes (and an implicit 200).
func (r *Recorder) Write(b []byte) (int, error) {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.Bytes += int64(n)
	return n, err
}

// Code is the status sent, 200 when the handler wrote nothing.
func (r *Recorder) Code() int {
	if r.Status == 0 {
		return http.StatusOK
	}
	return r.Status
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush flushes the underlying writer when it can.
func (r *Recorder) Flush() {
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}
