package gateway

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// Preview is by invitation: X-Tend-Preview reaches the revision being previewed only with
// the rollout's token, or with "1" from a PreviewFrom address; the instances never see
// the header, on the loop or on net/http's paths.
func TestPreviewNeedsTheRolloutsTokenAndNeverReachesTheInstance(t *testing.T) {
	seen := make(chan string, 100)
	answer := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			seen <- r.Header.Get("X-Tend-Preview")
			fmt.Fprint(w, name)
		}
	}
	stable, canary := startBackend(t, "stable", answer("stable")), startBackend(t, "canary", answer("canary"))
	routes := []route.Route{{App: "app", Hosts: []string{"app.test"}, PathPrefix: "/", Splits: []route.Split{{Revision: 1, Weight: 100}},
		Preview: 2, PreviewToken: "0123456789abcdef"}}
	eps := []store.Endpoint{stable.endpoint("app", 1), canary.endpoint("app", 2)}
	cases := []struct {
		value, want string
	}{
		{"", "stable"},
		{"1", "stable"}, // the old open door
		{"0123456789abcdee", "stable"},
		{"0123456789abcdef", "canary"},
	}
	for name, url := range map[string]string{"loop": serve(t, New(Options{}), routes, eps), "net/http": serveNetHTTP(t, New(Options{}), routes, eps)} {
		for _, c := range cases {
			for _, method := range []string{"GET", "POST"} {
				h := []string{"Host", "app.test"}
				if c.value != "" {
					h = append(h, "X-Tend-Preview", c.value)
				}
				code, body, _ := do(t, method, url+"/", h...)
				if code != 200 || body != c.want {
					t.Errorf("%s %s with X-Tend-Preview %q: %d %q, want %s", name, method, c.value, code, body, c.want)
				}
				if got := <-seen; got != "" {
					t.Errorf("%s %s: the instance saw X-Tend-Preview %q, want none", name, method, got)
				}
			}
		}
	}
	// from an address of PreviewFrom, "1" is enough
	office := New(Options{PreviewFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if _, body, _ := do(t, "GET", serve(t, office, routes, eps)+"/", "Host", "app.test", "X-Tend-Preview", "1"); !strings.Contains(body, "canary") {
		t.Errorf("X-Tend-Preview: 1 from a PreviewFrom address reached %q, want the canary", body)
	}
	<-seen
	far := New(Options{PreviewFrom: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if _, body, _ := do(t, "GET", serve(t, far, routes, eps)+"/", "Host", "app.test", "X-Tend-Preview", "1"); body != "stable" {
		t.Errorf("X-Tend-Preview: 1 from outside PreviewFrom reached %q, want the stable revision", body)
	}
	<-seen
}
