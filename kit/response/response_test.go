package response

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRecordsStatusAndBytes(t *testing.T) {
	w := httptest.NewRecorder()
	r := Wrap(w)
	if Wrap(r) != r {
		t.Fatal("wrapping a Recorder twice made a second one")
	}
	r.WriteHeader(http.StatusTeapot)
	fmt.Fprint(r, "hello")
	r.Flush()
	if r.Code() != http.StatusTeapot || r.Bytes != 5 || !w.Flushed {
		t.Fatalf("code %d bytes %d flushed %v", r.Code(), r.Bytes, w.Flushed)
	}
}

func ExampleWrap() {
	rec := Wrap(httptest.NewRecorder())
	http.NotFound(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code(), rec.Bytes)
	// Output: 404 19
}
