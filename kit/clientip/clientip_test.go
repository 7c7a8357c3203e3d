package clientip

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

func TestForwardedOnlyFromTrustedProxies(t *testing.T) {
	r, err := New("10.0.0.0/8", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ remote, xff, want string }{
		{"203.0.113.9:1234", "1.2.3.4", "203.0.113.9"},              // untrusted peer: header ignored
		{"127.0.0.1:1234", "1.2.3.4", "1.2.3.4"},                    // trusted peer
		{"127.0.0.1:1234", "6.6.6.6, 1.2.3.4, 10.1.1.1", "1.2.3.4"}, // skip trusted hops from the right; a spoofed left-most entry is ignored
		{"127.0.0.1:1234", "", "127.0.0.1"},
		{"127.0.0.1:1234", "garbage", "127.0.0.1"},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.remote
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := r.ClientIP(req); got != c.want {
			t.Errorf("remote %s xff %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

func ExampleResolver_ClientIP() {
	r, _ := New("127.0.0.1")
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "127.0.0.1:5000"
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	fmt.Println(r.ClientIP(req))
	// Output: 198.51.100.7
}
