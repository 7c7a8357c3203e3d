package api

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDeployScaleAndRestartWaitForRoomOnDisk(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{Token: "t", Room: func() error { return errors.New("the data dir's filesystem is full") }}))
	defer srv.Close()
	for _, path := range []string{"/v1/deploy", "/v1/apps/hello/scale", "/v1/apps/hello/restart"} {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer t")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(string(b), "filesystem is full") {
			t.Errorf("POST %s with a full disk: %d %s, want 507 and why", path, resp.StatusCode, b)
		}
	}
}
