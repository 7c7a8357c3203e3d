package gateway

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// headSeeds are request heads for the fuzzer to start from: the common case and the
// inputs request smuggling is made of.
var headSeeds = []string{
	// common requests
	"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /api/users?id=7&sort=name HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n",
	"GET /search?q=a%20b&x=%zz HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET /static/app.js HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n" +
		"Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\nReferer: https://www.example.com/\r\nCookie: a=b; canary=1; session=xyz\r\n" +
		"Sec-Fetch-Mode: no-cors\r\nIf-None-Match: \"abc\"\r\nCache-Control: max-age=0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: b\r\nForwarded: for=1.2.3.4\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nKeep-Alive: 300\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc\r\nTe: trailers\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\n\r\n",
	"GET / HTTP/1.1\r\nhost: a\r\nx-custom:\r\nx-tabs:\t v \t\r\nX-Obs-Text: caf\xc3\xa9\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [::1]:8080\r\nPragma: no-cache\r\n\r\n",
	"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
	"OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /form HTTP/1.1\r\nHost: a\r\n\r\n",
	"PUT /x HTTP/1.1\r\nHost: a\r\n\r\n",
	"PATCH /x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a!b/(c)/*/'d'/;e=f,g:h@i HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET //double//slash HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /? HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n",
	// smuggling and odd requests
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n\ttwo\r\n\r\n",
	"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",
	"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\x7f\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost:\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET http://evil.test/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.10\r\nHost: a\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
	"get / HTTP/1.1\r\nHost: a\r\n\r\n",
	"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Private\r\nX-Private: p\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nTrailer: X\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + strings.Repeat("v", 5000) + "\r\n\r\n",
	"GET /" + strings.Repeat("p", 5000) + " HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-Many: m\r\n", 120) + "\r\n",
	// truncated heads
	"",
	"G",
	"GET / HT",
	"GET / HTTP/1.1\r\nHost: a\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n\r",
}

// FuzzHeadAgreesWithNetHTTP holds the loop's parser to its contract: a head it answers
// itself (headFast) is one net/http's server accepts and reads the same way, and it
// decides nothing before the bytes that decide it have arrived.
func FuzzHeadAgreesWithNetHTTP(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	var h reqHead
	f.Fuzz(func(t *testing.T, b []byte) {
		res := parseHead(b, &h)
		if res == headOther {
			return // net/http's server decides
		}
		// read incrementally, every shorter prefix of what the loop took (or of all it
		// has, while incomplete) must still be incomplete
		upTo := len(b)
		if res == headFast {
			upTo = h.size
		}
		var p reqHead
		for _, n := range prefixLengths(upTo) {
			if r := parseHead(b[:n], &p); r != headIncomplete {
				t.Fatalf("%q: prefix %q gives %v, want incomplete", b, b[:n], r)
			}
		}
		if res == headIncomplete {
			return
		}
		if h.size > len(b) || h.size < 4 || string(b[h.size-4:h.size]) != "\r\n\r\n" {
			t.Fatalf("%q: head size %d does not end at a blank line", b, h.size)
		}
		rd := bytes.NewReader(b)
		br := bufio.NewReader(rd)
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("%q: the loop answers it, net/http refuses it: %v", b, err)
		}
		if read := len(b) - rd.Len() - br.Buffered(); read != h.size {
			t.Fatalf("%q: net/http read a head of %d bytes, the loop %d", b, read, h.size)
		}
		checkServerAccepts(t, b, req)
		checkSameRequest(t, b, &h, req)
	})
}

// prefixLengths lists the prefix lengths below n to try: all of them for a short input,
// a spread for a long one.
func prefixLengths(n int) []int {
	var ls []int
	step := 1
	if n > 512 {
		step = n / 128
	}
	for i := 0; i < n; i += step {
		ls = append(ls, i)
	}
	for i := max(0, n-8); i < n; i++ {
		ls = append(ls, i) // the end of the head, where the decisions are
	}
	return ls
}

// checkServerAccepts applies the checks net/http's server makes after ReadRequest
// (server.go, readRequest) before it calls the handler.
func checkServerAccepts(t *testing.T, b []byte, req *http.Request) {
	t.Helper()
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 {
		t.Fatalf("%q: read as HTTP/%d.%d", b, req.ProtoMajor, req.ProtoMinor)
	}
	// ReadRequest fails on two Host lines and takes Host out of Header; req.Host comes
	// from the single Host line since the target is in origin-form (no URL.Host)
	if req.URL.Host != "" || req.Host == "" {
		t.Fatalf("%q: net/http finds host %q (URL host %q): want exactly one Host line", b, req.Host, req.URL.Host)
	}
	if !httpguts.ValidHostHeader(req.Host) {
		t.Fatalf("%q: net/http's server refuses Host %q", b, req.Host)
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			t.Fatalf("%q: net/http's server refuses header name %q", b, k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				t.Fatalf("%q: net/http's server refuses header value %q", b, v)
			}
		}
	}
	if v := req.Header.Get("Expect"); v != "" {
		t.Fatalf("%q: net/http's server answers Expect: %s itself", b, v)
	}
}

// checkSameRequest compares the loop's reading of b with net/http's.
func checkSameRequest(t *testing.T, b []byte, h *reqHead, req *http.Request) {
	t.Helper()
	query := ""
	if i := bytes.IndexByte(h.uri, '?'); i >= 0 {
		query = string(h.uri[i+1:])
	}
	for _, d := range []struct{ what, loop, nethttp string }{
		{"method", h.method, req.Method},
		{"request URI", string(h.uri), req.RequestURI},
		{"path", string(h.path), req.URL.Path},
		// RawPath is set for a path with ! ' ( ) *, which net/url would escape; what
		// routing and forwarding see is Path and the escaped path, both unchanged
		{"escaped path", string(h.path), req.URL.EscapedPath()},
		{"query", query, req.URL.RawQuery},
		{"host", string(h.host), req.Host},
	} {
		if d.loop != d.nethttp {
			t.Fatalf("%q: the loop reads %s %q, net/http %q", b, d.what, d.loop, d.nethttp)
		}
	}
	if h.close != req.Close {
		t.Fatalf("%q: the loop reads Connection: close as %v, net/http as %v", b, h.close, req.Close)
	}
	if req.ContentLength != 0 || len(req.TransferEncoding) != 0 || req.Body != http.NoBody {
		t.Fatalf("%q: net/http finds a body (length %d, transfer encoding %v)", b, req.ContentLength, req.TransferEncoding)
	}
	want := http.Header{}
	for _, f := range h.fields {
		k := http.CanonicalHeaderKey(string(f.name))
		want[k] = append(want[k], string(f.value))
		if kind := fieldKinds[k]; f.kind != kind {
			t.Fatalf("%q: the loop files %s as kind %d, want %d", b, k, f.kind, kind)
		}
	}
	// net/http's one addition to the header lines it reads (fixPragmaCacheControl): the
	// gateway behind it forwards the Cache-Control it implies
	if p := want["Pragma"]; len(p) > 0 && p[0] == "no-cache" && want["Cache-Control"] == nil {
		want["Cache-Control"] = []string{"no-cache"}
	}
	if !reflect.DeepEqual(want, req.Header) {
		t.Fatalf("%q: the loop reads header\n%v\nnet/http reads\n%v", b, want, req.Header)
	}
	if _, ok := req.Header["X-Request-Id"]; h.hasID != ok {
		t.Fatalf("%q: the loop says X-Request-Id present: %v, net/http: %v", b, h.hasID, ok)
	}
}

// fieldKinds are the header fields the loop treats apart, by canonical name.
var fieldKinds = map[string]uint8{
	"Connection":          fieldHop,
	"Keep-Alive":          fieldHop,
	"Te":                  fieldHop,
	"Proxy-Connection":    fieldHop,
	"Proxy-Authenticate":  fieldHop,
	"Proxy-Authorization": fieldHop,
	"Forwarded":           fieldForwarded,
	"X-Forwarded-Host":    fieldForwarded,
	"X-Forwarded-Proto":   fieldForwarded,
	"X-Forwarded-For":     fieldXFF,
	"X-Request-Id":        fieldRequestID,
}

func TestHeadHandsOddRequestsToNetHTTP(t *testing.T) {
	const host = "Host: a\r\n"
	cases := []struct {
		name, in string
		want     headResult
	}{
		{"Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", headOther},
		{"Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", headOther},
		{"chunked body", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", headOther},
		{"chunked GET", "GET / HTTP/1.1\r\n" + host + "transfer-encoding: chunked\r\n\r\n", headOther},
		{"Content-Length: 0", "GET / HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n", headOther},
		{"GET with a body", "GET / HTTP/1.1\r\n" + host + "CONTENT-LENGTH: 3\r\n\r\nabc", headOther},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", headOther},
		{"two Hosts, same value", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", headOther},
		{"no Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", headOther},
		{"empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", headOther},
		{"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", headOther},
		{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", headOther},
		{"Host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", headOther},
		{"NUL in Host", "GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", headOther},
		{"obs-fold", "GET / HTTP/1.1\r\n" + host + "X-A: one\r\n two\r\n\r\n", headOther},
		{"obs-fold with a tab", "GET / HTTP/1.1\r\n" + host + "X-A: one\r\n\ttwo\r\n\r\n", headOther},
		{"folded first line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", headOther},
		{"bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", headOther},
		{"bare LF after a field", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", headOther},
		{"bare LF in a value", "GET / HTTP/1.1\r\n" + host + "X-A: b\nc\r\n\r\n", headOther},
		{"bare CR in a value", "GET / HTTP/1.1\r\n" + host + "X-A: b\rc\r\n\r\n", headOther},
		{"bare CR ending the head", "GET / HTTP/1.1\r\n" + host + "\rX", headOther},
		{"space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", headOther},
		{"tab before the colon", "GET / HTTP/1.1\r\n" + host + "X-A\t: b\r\n\r\n", headOther},
		{"no colon", "GET / HTTP/1.1\r\n" + host + "X-A b\r\n\r\n", headOther},
		{"empty name", "GET / HTTP/1.1\r\n" + host + ": b\r\n\r\n", headOther},
		{"odd name", "GET / HTTP/1.1\r\n" + host + "X(A): b\r\n\r\n", headOther},
		{"NUL in a value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", headOther},
		{"CTL in a value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x01b\r\n\r\n", headOther},
		{"DEL in a value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x7fb\r\n\r\n", headOther},
		{"absolute-form", "GET http://evil.test/ HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"asterisk-form", "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"authority-form", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", headOther},
		{"CONNECT to a path", "CONNECT / HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"TRACE", "TRACE / HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"unknown method", "PROPFIND / HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"lower-case method", "get / HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", headOther},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n" + host + "\r\n", headOther},
		{"HTTP/1.10", "GET / HTTP/1.10\r\n" + host + "\r\n", headOther},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", headOther},
		{"lower-case version", "GET / http/1.1\r\n" + host + "\r\n", headOther},
		{"no version", "GET /\r\n" + host + "\r\n", headOther},
		{"space after the version", "GET / HTTP/1.1 \r\n" + host + "\r\n", headOther},
		{"two spaces after the method", "GET  / HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"space in the target", "GET /a b HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"tab in the target", "GET /a\tb HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"relative target", "GET a HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"percent-encoded path", "GET /%2e%2e/ HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"encoded slash", "GET /a%2fb HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"fragment", "GET /a#b HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"backslash", "GET /a\\b HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"non-ASCII path", "GET /caf\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"Expect", "GET / HTTP/1.1\r\n" + host + "Expect: 100-continue\r\n\r\n", headOther},
		{"Upgrade", "GET / HTTP/1.1\r\n" + host + "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n", headOther},
		{"Connection naming a field", "GET / HTTP/1.1\r\n" + host + "Connection: X-Private\r\nX-Private: p\r\n\r\n", headOther},
		{"Trailer", "GET / HTTP/1.1\r\n" + host + "Trailer: X-A\r\n\r\n", headOther},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\n" + host + "\r\n", headOther},
		{"Host and 101 more lines", "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-A: b\r\n", maxFields+1) + "\r\n", headOther},
		{"TLS handshake", "\x16\x03\x01\x02\x00\x01", headOther},

		{"nothing yet", "", headIncomplete},
		{"part of a method", "OPTIO", headIncomplete},
		{"a method", "GET", headIncomplete},
		{"part of the target", "GET /ap", headIncomplete},
		{"part of the version", "GET / HT", headIncomplete},
		{"the request line's CR", "GET / HTTP/1.1\r", headIncomplete},
		{"the request line", "GET / HTTP/1.1\r\n", headIncomplete},
		{"part of a name", "GET / HTTP/1.1\r\nHos", headIncomplete},
		{"part of a value", "GET / HTTP/1.1\r\nHost: exa", headIncomplete},
		{"a field's CR", "GET / HTTP/1.1\r\nHost: a\r", headIncomplete},
		{"no blank line yet", "GET / HTTP/1.1\r\n" + host, headIncomplete},
		{"the blank line's CR", "GET / HTTP/1.1\r\n" + host + "\r", headIncomplete},
	}
	var h reqHead
	for _, c := range cases {
		if got := parseHead([]byte(c.in), &h); got != c.want {
			t.Errorf("%s: %q gives %v, want %v", c.name, c.in, got, c.want)
		}
	}
}

func TestHeadReadsACommonRequest(t *testing.T) {
	head := "GET /products/42?ref=home&q=a%20b HTTP/1.1\r\n" +
		"Host: shop.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15\r\n" +
		"Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n" +
		"Accept-Language: en-GB,en;q=0.9\r\n" +
		"accept-encoding: gzip, deflate, br  \r\n" +
		"Cookie: session=abc123; canary=1\r\n" +
		"X-Forwarded-For: 203.0.113.7\r\n" +
		"X-Request-Id: req-1\r\n" +
		"Connection: keep-alive\r\n" +
		"\r\n"
	next := "GET /next HTTP/1.1\r\nHost: shop.example.com\r\n\r\n" // pipelined after it
	var h reqHead
	if res := parseHead([]byte(head+next), &h); res != headFast {
		t.Fatalf("a browser's GET gives %v, want the loop to answer it", res)
	}
	if h.size != len(head) {
		t.Errorf("head size %d, want %d: the pipelined request is not part of it", h.size, len(head))
	}
	if h.method != "GET" || string(h.uri) != "/products/42?ref=home&q=a%20b" || string(h.path) != "/products/42" || string(h.host) != "shop.example.com" {
		t.Errorf("read %s %q path %q host %q", h.method, h.uri, h.path, h.host)
	}
	if h.close || !h.hasID {
		t.Errorf("close %v, request id %v: want a kept connection and the client's X-Request-Id", h.close, h.hasID)
	}
	want := []struct {
		name, value string
		kind        uint8
	}{
		{"User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15", fieldPlain},
		{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8", fieldPlain},
		{"Accept-Language", "en-GB,en;q=0.9", fieldPlain},
		{"accept-encoding", "gzip, deflate, br", fieldPlain},
		{"Cookie", "session=abc123; canary=1", fieldPlain},
		{"X-Forwarded-For", "203.0.113.7", fieldXFF},
		{"X-Request-Id", "req-1", fieldRequestID},
		{"Connection", "keep-alive", fieldHop},
	}
	if len(h.fields) != len(want) {
		t.Fatalf("%d fields, want %d: every line but Host", len(h.fields), len(want))
	}
	for i, w := range want {
		f := h.fields[i]
		if string(f.name) != w.name || string(f.value) != w.value || f.kind != w.kind {
			t.Errorf("field %d: %q: %q (kind %d), want %q: %q (kind %d)", i, f.name, f.value, f.kind, w.name, w.value, w.kind)
		}
	}

	closing := "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n"
	if res := parseHead([]byte(closing), &h); res != headFast || !h.close {
		t.Errorf("%q: %v, close %v: want the loop to answer it and close", closing, res, h.close)
	}
}
