package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// responseSeeds are backend answers to a GET for the fuzzer to start from: the common
// ones, the ones with framing to get right, and the ones response smuggling is made of.
var responseSeeds = []string{
	// common answers
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nDate: Mon, 02 Jun 2025 10:00:00 GMT\r\nServer: app\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 9\r\nX-Content-Type-Options: nosniff\r\n\r\nnot found",
	"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnextHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 0005\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nCache-Control: max-age=60\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 120\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nProxy-Authenticate: Basic\r\nProxy-Connection: close\r\nTe: trailers\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Tabs:\t a \t\r\nx-lower: b\r\nX-Empty:\r\nX-Obs-Text: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the connection closes",
	// chunked answers
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n5;name=value;other\r\nhello\r\n6 ;\t\r\n world\r\n0;last\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \t\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Folded: one\r\n two\r\n\tthree\r\nX-Last: z\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailing: a  \r\n b \r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailing: a  \r\n b \r\n \r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded first\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: b\r\n \rc\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"e\r\ndata: event 1\n\n\r\ne\r\ndata: event 2\n\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("1\r\nx\r\n", 40) + "0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000a\r\n0123456789\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000a\r\n0123456789\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
	// a long trailer section, and chunk extensions far longer than their data: net/http's
	// reader refuses both (over its 4 KiB buffer; over 16 KiB of overhead)
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + strings.Repeat("X-Long: "+strings.Repeat("t", 1000)+"\r\n", 5) + "\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("1;"+strings.Repeat("e", 4000)+"\r\nx\r\n", 5) + "0\r\n\r\n",
	// answers for net/http's reader, and ones that must not be read as they look
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok",
	"HTTP/1.1 200 OK\r\nX-A: b\rc\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\n Content-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: X-Private\r\nX-Private: p\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Checksum: abc\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Many: m\r\n", 120) + "Content-Length: 0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200\tOK\r\nContent-Length: 0\r\n\r\n",
	"http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	// truncated heads
	"",
	"HTTP/1.",
	"HTTP/1.1 20",
	"HTTP/1.1 200 OK\r",
	"HTTP/1.1 200 OK\r\nContent-Len",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r",
}

// FuzzResponseAgreesWithNetHTTP holds the connection loop's reading of a backend's
// answer to a GET to net/http's: a head the loop passes on itself (headFast) is one
// http.ReadResponse accepts and reads the same way, decided only once all of it has
// arrived; a chunked body copyChunked passes on is one net/http's reader accepts, framed
// at the same byte, and what it writes decodes to the same body and trailers; a
// Content-Length body is copied exactly. The loop may refuse what net/http accepts
// (it is stricter), never the other way round, which would let a backend's answer be
// read one way by the gateway and another by its client.
func FuzzResponseAgreesWithNetHTTP(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s))
	}
	var r respHead
	f.Fuzz(func(t *testing.T, b []byte) {
		res := parseResponseHead(b, &r)
		if res == headOther {
			return // net/http's reader decides
		}
		// read incrementally, every shorter prefix of what the loop took (or of all it
		// has, while incomplete) must still be incomplete
		upTo := len(b)
		if res == headFast {
			upTo = r.size
		}
		var p respHead
		for _, n := range prefixLengths(upTo) {
			if got := parseResponseHead(b[:n], &p); got != headIncomplete {
				t.Fatalf("%s: prefix %s gives %v, want incomplete", abridged(b), abridged(b[:n]), got)
			}
		}
		if res == headIncomplete {
			return
		}
		if r.size > len(b) || r.size < 4 || string(b[r.size-4:r.size]) != "\r\n\r\n" {
			t.Fatalf("%s: head size %d does not end at a blank line", abridged(b), r.size)
		}
		rd := bytes.NewReader(b)
		br := bufio.NewReader(rd)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("%s: the loop passes it on, net/http refuses it: %v", abridged(b), err)
		}
		if read := len(b) - rd.Len() - br.Buffered(); read != r.size {
			t.Fatalf("%s: net/http read a head of %d bytes, the loop %d", abridged(b), read, r.size)
		}
		checkSameResponse(t, b, &r, resp)
		switch {
		case bodiless(http.MethodGet, r.status):
		case r.chunked:
			want, werr := io.ReadAll(resp.Body)
			checkChunkedBody(t, b, &r, chunkedReading{want, resp.Trailer, len(b) - rd.Len() - br.Buffered(), werr})
		case r.length >= 0:
			want, werr := io.ReadAll(resp.Body)
			checkLengthBody(t, b, &r, want, werr)
		}
	})
}

// responseHops are the fields of an answer the loop does not pass on, by canonical name.
var responseHops = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Te":                  true,
	"Proxy-Connection":    true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
}

// checkSameResponse compares the loop's reading of a response head with net/http's.
func checkSameResponse(t *testing.T, b []byte, r *respHead, resp *http.Response) {
	t.Helper()
	if resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
		t.Fatalf("%s: read as HTTP/%d.%d", abridged(b), resp.ProtoMajor, resp.ProtoMinor)
	}
	if r.status != resp.StatusCode || string(r.line) != resp.Status {
		t.Fatalf("%s: the loop reads status %d %q, net/http %d %q", abridged(b), r.status, r.line, resp.StatusCode, resp.Status)
	}
	noBody := bodiless(http.MethodGet, r.status)
	chunked := slices.Equal(resp.TransferEncoding, []string{"chunked"})
	if r.chunked != chunked {
		t.Fatalf("%s: the loop reads chunked %v, net/http transfer encoding %q", abridged(b), r.chunked, resp.TransferEncoding)
	}
	switch {
	case noBody:
		if resp.ContentLength != 0 || resp.Body != http.NoBody {
			t.Fatalf("%s: a %d has no body, net/http reads length %d", abridged(b), r.status, resp.ContentLength)
		}
	case r.chunked:
		if resp.ContentLength != -1 {
			t.Fatalf("%s: the loop reads a chunked body, net/http length %d", abridged(b), resp.ContentLength)
		}
	case r.length != resp.ContentLength:
		t.Fatalf("%s: the loop reads length %d, net/http %d", abridged(b), r.length, resp.ContentLength)
	}
	// net/http's reader also closes after a body that ends with the connection, which
	// the loop leaves to it (relayOther)
	if want := r.close || !noBody && !r.chunked && r.length < 0; resp.Close != want {
		t.Fatalf("%s: the loop reads close %v (length %d), net/http %v", abridged(b), r.close, r.length, resp.Close)
	}
	if _, ok := resp.Header["Date"]; r.hasDate != ok {
		t.Fatalf("%s: the loop says Date present: %v, net/http: %v", abridged(b), r.hasDate, ok)
	}
	want := http.Header{}
	for _, f := range r.fields {
		k := http.CanonicalHeaderKey(string(f.name))
		// a 204 has no Content-Length (RFC 9110 8.6), and a body's framing goes only
		// with the body: the loop passes Transfer-Encoding on only when it copies one
		hop := responseHops[k] || k == "Content-Length" && r.status == http.StatusNoContent ||
			k == "Transfer-Encoding" && noBody
		kind := fieldPlain
		if hop {
			kind = fieldHop
		}
		if f.kind != kind {
			t.Fatalf("%s: the loop files %s as kind %d, want %d", abridged(b), k, f.kind, kind)
		}
		if f.kind == fieldHop || k == "Transfer-Encoding" {
			continue // net/http's reader takes Transfer-Encoding out of Header
		}
		want[k] = append(want[k], string(f.value))
	}
	// net/http's one addition to the header lines it reads (fixPragmaCacheControl), which
	// a client that reads the passed answer with it adds alike
	if p := want["Pragma"]; len(p) > 0 && p[0] == "no-cache" && want["Cache-Control"] == nil {
		want["Cache-Control"] = []string{"no-cache"}
	}
	got := resp.Header.Clone()
	for k := range got {
		if responseHops[k] || k == "Content-Length" && r.status == http.StatusNoContent {
			delete(got, k)
		}
	}
	if !maps.EqualFunc(want, got, slices.Equal) {
		t.Fatalf("%s: the loop passes on header\n%v\nnet/http reads\n%v", abridged(b), want, got)
	}
}

// chunkedReading is net/http's reading of a chunked body: the decoded body, the
// trailers, the bytes of the answer read up to the body's end, and its error.
type chunkedReading struct {
	body    []byte
	trailer http.Header
	read    int
	err     error
}

// checkChunkedBody runs copyChunked over the body in b and holds it to net/http's
// reading of the same body, std.
func checkChunkedBody(t *testing.T, b []byte, r *respHead, std chunkedReading) {
	t.Helper()
	// the backend's reader has the loop's size; a small writer exercises its flushes
	rd := bytes.NewReader(b[r.size:])
	br := bufio.NewReaderSize(rd, 4<<10)
	var out bytes.Buffer
	bw := bufio.NewWriterSize(&out, 256)
	werr, rerr := copyChunked(bw, br, nil)
	if werr == nil {
		werr = bw.Flush()
	}
	if werr != nil {
		t.Fatalf("%s: writing to a buffer fails: %v", abridged(b), werr)
	}
	if rerr != nil {
		return // the loop may refuse what net/http accepts
	}
	if std.err != nil {
		t.Fatalf("%s: the loop passes the chunked body on, net/http refuses it: %v", abridged(b), std.err)
	}
	if read := len(b) - rd.Len() - br.Buffered(); read != std.read {
		t.Fatalf("%s: the loop reads the answer up to byte %d, net/http up to %d", abridged(b), read, std.read)
	}
	// what the loop wrote, after the head it passes on, must decode to the same body and
	// trailers, and end where the body does
	passed := append(b[:r.size:r.size], out.Bytes()...)
	prd := bytes.NewReader(passed)
	pbr := bufio.NewReader(prd)
	resp, err := http.ReadResponse(pbr, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("%s: net/http refuses the head with what the loop wrote: %v", abridged(b), err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: the loop writes %s, which net/http refuses: %v", abridged(b), abridged(out.Bytes()), err)
	}
	if left := prd.Len() + pbr.Buffered(); left != 0 {
		t.Fatalf("%s: the loop writes %s, %d bytes past the chunked body's end", abridged(b), abridged(out.Bytes()), left)
	}
	if !bytes.Equal(body, std.body) {
		t.Fatalf("%s: the loop writes %s, which decodes to %s, net/http reads %s", abridged(b), abridged(out.Bytes()), abridged(body), abridged(std.body))
	}
	if !maps.EqualFunc(resp.Trailer, std.trailer, slices.Equal) {
		t.Fatalf("%s: the loop writes %s, with trailers %q; net/http reads %q", abridged(b), abridged(out.Bytes()), resp.Trailer, std.trailer)
	}
}

// checkLengthBody runs copyLength over the body in b: it copies exactly the body, as
// net/http reads it (want), or all there is and an unexpected EOF when the answer ends
// before it.
func checkLengthBody(t *testing.T, b []byte, r *respHead, want []byte, stdErr error) {
	t.Helper()
	rest := b[r.size:]
	rd := bytes.NewReader(rest)
	br := bufio.NewReaderSize(rd, 4<<10)
	var out bytes.Buffer
	bw := bufio.NewWriterSize(&out, 256)
	werr, rerr := copyLength(bw, br, r.length)
	if werr == nil {
		werr = bw.Flush()
	}
	if werr != nil {
		t.Fatalf("%s: writing to a buffer fails: %v", abridged(b), werr)
	}
	body := rest
	if int64(len(rest)) >= r.length {
		body = rest[:r.length]
		if rerr != nil {
			t.Fatalf("%s: copying a body of %d bytes of %d fails: %v", abridged(b), r.length, len(rest), rerr)
		}
	} else if rerr != io.ErrUnexpectedEOF {
		t.Fatalf("%s: copying a body of %d bytes from %d gives %v, want an unexpected EOF", abridged(b), r.length, len(rest), rerr)
	}
	if !bytes.Equal(out.Bytes(), body) {
		t.Fatalf("%s: the loop copies %s, want the body %s", abridged(b), abridged(out.Bytes()), abridged(body))
	}
	if read := len(rest) - rd.Len() - br.Buffered(); read != len(body) {
		t.Fatalf("%s: the loop reads %d bytes for a body of %d", abridged(b), read, len(body))
	}
	if !bytes.Equal(want, body) || (stdErr != nil) != (rerr != nil) {
		t.Fatalf("%s: net/http reads the body %s (%v), the loop %s (%v)", abridged(b), abridged(want), stdErr, abridged(body), rerr)
	}
}

// abridged quotes b for a failure message, its middle left out when it is long.
func abridged(b []byte) string {
	if len(b) <= 600 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q ... (%d bytes) ... %q", b[:400], len(b)-600, b[len(b)-200:])
}
