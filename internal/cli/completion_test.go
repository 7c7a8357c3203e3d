package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api/v1"
)

func TestCompletionOffersTheServersAppsAndInstances(t *testing.T) {
	cliEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Tend-Api-Version", "1")
		switch r.URL.Path {
		case "/v1/apps":
			_ = json.NewEncoder(w).Encode([]v1.App{{App: "hello", Strategy: v1.Canary}, {App: "shop", Strategy: v1.Rolling}})
		case "/v1/apps/hello":
			_ = json.NewEncoder(w).Encode(v1.App{App: "hello", Running: []v1.Instance{{ID: "hello-2-ab12", Revision: 2, State: v1.Ready}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("TEND_API", srv.URL)
	t.Setenv("TEND_TOKEN", "tok")

	out := mustRun(t, "", "__complete", "history", "")
	if !strings.Contains(out, "hello\tcanary") || !strings.Contains(out, "shop\trolling") {
		t.Errorf("apps for tend history:\n%s", out)
	}
	if out := mustRun(t, "", "__complete", "history", "hello", ""); strings.Contains(out, "shop") {
		t.Errorf("a second argument of tend history completes apps:\n%s", out)
	}
	if out := mustRun(t, "", "__complete", "logs", "hello", "--instance", ""); !strings.Contains(out, "hello-2-ab12\trevision 2, ready") {
		t.Errorf("instances for tend logs --instance:\n%s", out)
	}
	if out := mustRun(t, "", "__complete", "status", "-o", ""); !strings.Contains(out, "json\nyaml") {
		t.Errorf("values of -o:\n%s", out)
	}
	t.Setenv("TEND_TOKEN", "wrong")
	if out := mustRun(t, "", "__complete", "history", ""); strings.Contains(out, "hello") {
		t.Errorf("a server that refuses completes nothing:\n%s", out)
	}
}
