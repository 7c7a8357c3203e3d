package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/store"
	"github.com/tendhq/tend/internal/token"
	"github.com/tendhq/tend/internal/upload"
)

// Two uploads in progress hold the server's slots: a third is told to wait (429 with
// Retry-After), and gets in once one of them ends.
func TestUploadsBeyondTheSlotsWaitTheirTurn(t *testing.T) {
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	k := token.Open(st, slog.New(slog.DiscardHandler))
	defer func() { k.Close(); st.Close() }()
	o := fullOptions(t)
	o.Tokens, o.Uploads = k, &upload.Store{Dir: t.TempDir()}
	srv := httptest.NewServer(Handler(o))
	defer srv.Close()
	ci := create(t, srv, v1.TokenRequest{Name: "ci", Role: v1.RoleDeploy})
	digest := strings.Repeat("a", 64)

	var writers []*io.PipeWriter
	defer func() { // before the server closes, which waits for their requests
		for _, pw := range writers {
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}
	}()
	answers := make(chan int, maxUploadsAtOnce)
	for range maxUploadsAtOnce {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req, _ := http.NewRequest("PUT", srv.URL+"/v1/uploads/"+digest, pr)
		req.Header.Set("Authorization", "Bearer "+ci)
		// the client sends the head at once and the body only once the handler reads it:
		// without, a body whose first byte is there at once leaves the head in the
		// client's buffer (net/http flushes it early only for a body that is slow to begin)
		req.Header.Set("Expect", "100-continue")
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- 0
				return
			}
			resp.Body.Close()
			answers <- resp.StatusCode
		}()
		if _, err := pw.Write([]byte{0x1f}); err != nil { // the handler reads it: the upload holds a slot
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest("PUT", srv.URL+"/v1/uploads/"+digest, strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+ci)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			if !strings.Contains(string(body), "in progress") || resp.Header.Get("Retry-After") == "" {
				t.Errorf("the third upload: %d %s (Retry-After %q)", resp.StatusCode, body, resp.Header.Get("Retry-After"))
			}
			break
		}
		if time.Now().After(deadline) {
			var ended []int
			for len(answers) > 0 {
				ended = append(ended, <-answers)
			}
			t.Fatalf("a third upload while two are in progress: %d %s, want 429 (the two that began answered %v)", resp.StatusCode, body, ended)
		}
		time.Sleep(10 * time.Millisecond) // the two have not reached the handler yet
	}
	writers[0].CloseWithError(io.ErrUnexpectedEOF) // the client gives up on it
	<-answers
	deadline = time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest("PUT", srv.URL+"/v1/uploads/"+digest, strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+ci)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadRequest { // in, and refused as not gzip
			break
		}
		if resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("an upload after one ended: %d, want 400 (not gzip) once the ended one's slot is free", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond) // the server has not seen the end yet
	}
	writers[1].Close()
	<-answers
}

// A token's volume of uploads is bounded per hour; older uploads stop counting.
func TestATokensUploadVolumeIsBoundedPerHour(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	l := newUploadLimits()
	l.now = func() time.Time { return now }
	l.add("ci", uploadQuota-100)
	if left := l.left("ci"); left != 100 {
		t.Errorf("left %d, want 100", left)
	}
	if left := l.left("other"); left != uploadQuota {
		t.Errorf("another token: left %d, want the whole quota", left)
	}
	l.add("ci", 500)
	if left := l.left("ci"); left != 0 {
		t.Errorf("over the quota: left %d, want 0", left)
	}
	now = now.Add(uploadWindow + time.Second)
	if left := l.left("ci"); left != uploadQuota {
		t.Errorf("an hour later: left %d, want the whole quota", left)
	}
}
