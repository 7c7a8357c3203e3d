package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// rawBackend is a backend that answers with canned bytes: it reads a request head up to
// its empty line and writes answer (or, for GET /next, a plain 200 "next"); with close
// it then closes the connection, else it waits for the next request on it.
type rawBackend struct {
	ln     net.Listener
	answer string
	close  bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	seen   []string // request lines, "conn#n METHOD /path"
	nconns int
}

// nextAnswer is the backend's answer to GET /next, the request that checks the
// gateway's connections are still good after the answer under test.
const nextAnswer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnext"

func startRawBackend(t *testing.T, answer string, close bool) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln, answer: answer, close: close, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[c] = struct{}{}
			b.nconns++
			n := b.nconns
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				b.serve(c, n)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *rawBackend) serve(c net.Conn, n int) {
	defer func() {
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if l == "\r\n" || l == "\n" {
				break
			}
		}
		method, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		path, _, _ := strings.Cut(rest, " ")
		b.mu.Lock()
		b.seen = append(b.seen, fmt.Sprintf("conn#%d %s %s", n, method, path))
		b.mu.Unlock()
		answer, closeAfter := b.answer, b.close
		if path == "/next" {
			answer, closeAfter = nextAnswer, false
		}
		if _, err := io.WriteString(c, answer); err != nil || closeAfter {
			return
		}
	}
}

func (b *rawBackend) endpoint() store.Endpoint {
	host, port, _ := net.SplitHostPort(b.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	return store.Endpoint{Name: "app", Address: host, Port: p, Metadata: map[string]string{"revision": "1", "instance": "raw"}}
}

func (b *rawBackend) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.seen)
}

// seenAs is what a client of the gateway can tell about one answer.
type seenAs struct {
	err        string // of Client.Do, as howItEnded says it
	status     int
	statusText string // resp.Status: the reason phrase, which clients are told to ignore
	header     []string
	framing    string // "length N", "chunked", "until close"
	close      bool   // the gateway said it closes the connection
	announced  []string
	body       string
	bodyErr    string
	trailer    []string
	informed   []int // 1xx answers the client saw
	reused     bool  // the request went over a kept connection
}

// facts lists an answer as lines to compare; the Content-Length field and the framing
// are left out when framingOnly.
func (s *seenAs) facts(framingOnly bool) []string {
	if s.err != "" {
		return []string{"error: " + s.err, fmt.Sprintf("reused: %v", s.reused)}
	}
	out := []string{
		fmt.Sprintf("status: %d", s.status),
		fmt.Sprintf("close: %v", s.close),
		fmt.Sprintf("announced trailers: %q", s.announced),
		fmt.Sprintf("body: %q", s.body),
		"body error: " + s.bodyErr,
		fmt.Sprintf("trailers: %q", s.trailer),
		fmt.Sprintf("1xx: %v", s.informed),
		fmt.Sprintf("reused: %v", s.reused),
	}
	if !framingOnly {
		out = append(out, "framing: "+s.framing)
	}
	for _, h := range s.header {
		if !framingOnly || !strings.HasPrefix(h, "Content-Length: ") {
			out = append(out, "header "+h)
		}
	}
	return out
}

func (s *seenAs) String() string {
	if s.err != "" {
		return fmt.Sprintf("error %s (reused %v)", s.err, s.reused)
	}
	var b strings.Builder
	header := make([]string, len(s.header))
	for i, h := range s.header {
		if len(h) > 80 {
			h = fmt.Sprintf("%s...(%d bytes)", h[:60], len(h))
		}
		header[i] = h
	}
	fmt.Fprintf(&b, "%q framing=%s close=%v reused=%v 1xx=%v\n\t\theader %q\n\t\tbody %q", s.statusText, s.framing, s.close, s.reused, s.informed, header, s.body)
	if s.bodyErr != "" {
		fmt.Fprintf(&b, " (body error: %s)", s.bodyErr)
	}
	if len(s.announced) > 0 || len(s.trailer) > 0 {
		fmt.Fprintf(&b, "\n\t\tannounced trailers %q, trailers %q", s.announced, s.trailer)
	}
	return b.String()
}

// ask sends one request to base with host app.test through client and describes the answer.
func ask(client *http.Client, method, base, path string) *seenAs {
	s := &seenAs{}
	req, _ := http.NewRequest(method, base+path, nil)
	req.Host = "app.test"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { s.reused = i.Reused },
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			s.informed = append(s.informed, code)
			return nil
		},
	})
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		s.err = howItEnded(err)
		return s
	}
	defer resp.Body.Close()
	s.status, s.statusText, s.close = resp.StatusCode, resp.Status, resp.Close
	switch {
	case len(resp.TransferEncoding) > 0:
		s.framing = strings.Join(resp.TransferEncoding, ",")
	case resp.ContentLength >= 0:
		s.framing = fmt.Sprintf("length %d", resp.ContentLength)
	default:
		s.framing = "until close"
	}
	s.header = headerLines(resp.Header, "Date")
	s.announced = slices.Sorted(func(yield func(string) bool) {
		for k := range resp.Trailer {
			if !yield(k) {
				return
			}
		}
	})
	body, err := io.ReadAll(resp.Body)
	s.body = string(body)
	if err != nil {
		s.bodyErr = howItEnded(err)
	}
	s.trailer = headerLines(resp.Trailer)
	return s
}

// headerLines lists h as sorted "Name: value" lines, without the fields named in skip.
func headerLines(h http.Header, skip ...string) []string {
	var out []string
	for k, vv := range h {
		if slices.Contains(skip, k) {
			continue
		}
		for _, v := range vv {
			out = append(out, k+": "+v)
		}
	}
	slices.Sort(out)
	return out
}

// streams reports whether an answer's body came without a known length.
func (s *seenAs) streams() bool { return s.framing == "chunked" || s.framing == "until close" }

// TestLoopAndNetHTTPRelayBackendAnswersAlike has a raw backend give the same bytes to a
// gateway served by its connection loop and to one served by net/http's server alone:
// a Go client must see the same answer from both, and then the same answer to a plain
// second request on the same client (the gateway's connection and the gateway's
// connection to the backend must both still be good).
func TestLoopAndNetHTTPRelayBackendAnswersAlike(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	longHead := ok + "X-Long: " + strings.Repeat("v", 5000) + "\r\nContent-Length: 5\r\n\r\nhello"
	cases := []struct {
		name   string
		method string // GET when empty
		answer string
		close  bool // the backend closes the connection after answering
		// differ lists the facts (facts' line prefixes) of the first answer that may
		// differ between the two, for the reason in the comment at the case
		differ []string
		// cut: the backend's body is broken after the head was passed on. The loop must
		// then cut the client's connection, so that the client sees an error (and its
		// next request takes a new connection); net/http's path aborts the handler
		// (http.ErrAbortHandler), so its client sees an error too, often with no answer
		cut bool
	}{
		{name: "Content-Length", answer: ok + "Content-Length: 5\r\n\r\nhello"},
		{name: "chunked, several chunks", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n,\r\n6\r\n world\r\nA\r\n0123456789\r\n0\r\n\r\n"},
		{name: "chunk extensions", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5;foo=bar\r\nhello\r\n6;a=\"b c\";d\r\n world\r\n0;last\r\n\r\n"},
		{name: "trailers not announced", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"},
		{name: "trailers announced", answer: ok + "Trailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"},
		// RFC 9112 6.3: Transfer-Encoding overrides Content-Length; read as 3 bytes, the rest
		// of the chunked body would be taken for the answer to the next request
		{name: "Content-Length and chunked", answer: ok + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{name: "chunked and Content-Length", answer: ok + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		// a 502 from both; the gateway's own message differs: "answered with a malformed
		// response" from the loop, "unreachable" from net/http's path
		{name: "two different Content-Lengths", answer: ok + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
			differ: []string{"body: ", "framing: ", "header Content-Length: "}},
		{name: "two identical Content-Lengths", answer: ok + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "103 Early Hints, then 200", answer: "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" + ok + "Content-Length: 5\r\n\r\nhello"},
		{name: "204", answer: "HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n"},
		// RFC 9110 8.6: a server must not send Content-Length in a 204; net/http's server drops it
		{name: "204 with Content-Length: 0", answer: "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"},
		{name: "304", answer: "HTTP/1.1 304 Not Modified\r\nEtag: \"v1\"\r\n\r\n"},
		// RFC 9110 8.6 lets a 304 carry the Content-Length its 200 would have: the loop
		// passes it on, net/http's server drops it; no body either way
		{name: "304 with Content-Length", answer: "HTTP/1.1 304 Not Modified\r\nEtag: \"v1\"\r\nContent-Length: 100\r\n\r\n",
			differ: []string{"header Content-Length: "}},
		{name: "HEAD, Content-Length", method: "HEAD", answer: ok + "Content-Length: 5\r\n\r\n"},
		// the loop passes on the Transfer-Encoding the GET would have had, net/http's
		// server drops it; no body either way
		{name: "HEAD, chunked", method: "HEAD", answer: ok + "Transfer-Encoding: chunked\r\n\r\n", differ: []string{"framing: "}},
		// a backend that sends a body to HEAD: those bytes must not become the answer to
		// the next request on the backend connection
		{name: "HEAD answered with a body", method: "HEAD", answer: ok + "Content-Length: 5\r\n\r\nhello"},
		{name: "bytes after the body", answer: ok + "Content-Length: 5\r\n\r\nhelloEXTRA"},
		{name: "a 204 with a body", answer: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"},
		// the bytes after the 204 are a whole answer: kept on the backend connection, they
		// would be taken for the answer to the next request sent on it, anyone's
		{name: "a 204 followed by another answer", answer: "HTTP/1.1 204 No Content\r\n\r\n" + ok + "Content-Length: 6\r\n\r\nforged"},
		{name: "HEAD, no length", method: "HEAD", answer: ok + "\r\n"},
		{name: "HTTP/1.0 close-delimited", answer: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello", close: true},
		{name: "HTTP/1.1 close-delimited", answer: ok + "\r\nhello", close: true},
		{name: "Connection: close", answer: ok + "Connection: close\r\nContent-Length: 5\r\n\r\nhello", close: true},
		{name: "Connection naming a field", answer: ok + "Connection: X-Secret\r\nX-Secret: 1\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "Keep-Alive and Proxy-Connection", answer: ok + "Connection: keep-alive\r\nKeep-Alive: timeout=5, max=100\r\nProxy-Connection: keep-alive\r\nContent-Length: 5\r\n\r\nhello"},
		// net/http's path drops every field of hopHeaders (forward.go)
		{name: "other hop-by-hop fields", answer: ok + "Te: trailers\r\nProxy-Authenticate: Basic\r\nProxy-Authorization: Basic eDp5\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "malformed chunk size", answer: ok + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", cut: true},
		{name: "malformed second chunk size", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nhello\r\n0\r\n\r\n", cut: true},
		{name: "no CRLF after chunk data", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n", cut: true},
		{name: "a bare LF after a chunk size", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", cut: true},
		// RFC 9112 7.1.1 allows it (chunk-ext = *( BWS ";" ...)), but net/http's chunked
		// reader refuses it as the loop does
		{name: "whitespace before a chunk extension", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5 ;foo=bar\r\nhello\r\n0\r\n\r\n", cut: true},
		// not in RFC 9112's grammar, but net/http's chunked reader takes it (servers that pad
		// the size exist): the client must get the body whole either way
		{name: "whitespace after a chunk size", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"},
		// net/http's reader waits for a CRLF CRLF to end the trailers: on a kept backend
		// connection its path hangs until the backend closes; here the backend closes, and
		// net/http's path ends the body without the trailer, as if whole
		{name: "a trailer line with a bare LF", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\n\r\n", close: true, cut: true},
		// RFC 9112 5.2: a proxy replaces an obs-fold with spaces (or answers 502); net/http
		// passes the trailer on as "1 2"
		{name: "an obs-folded trailer", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"},
		{name: "truncated Content-Length body", answer: ok + "Content-Length: 10\r\n\r\nhello", close: true, cut: true},
		{name: "truncated chunked body", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", close: true, cut: true},
		{name: "truncated chunk", answer: ok + "Transfer-Encoding: chunked\r\n\r\na\r\nhello", close: true, cut: true},
		{name: "truncated trailers", answer: ok + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n", close: true, cut: true},
		// the reason phrase is only logged when it differs: clients are to ignore it
		{name: "no reason phrase", answer: "HTTP/1.1 200\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "500", answer: "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nboom"},
		{name: "a head over 4 KiB", answer: longHead},
		{name: "obs-fold", answer: ok + "X-Folded: one\r\n two\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "a bare LF after a field", answer: ok + "X-A: b\nContent-Length: 5\r\n\r\nhello"},
		{name: "bare LF line ends", answer: "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello"},
	}
	type run struct {
		name, method, answer string
		differ               []string
		cut                  bool
		loopB, stdB          *rawBackend
		loopURL, stdURL      string
		loop, std            [2]*seenAs
	}
	var runs []*run
	for _, c := range cases {
		r := &run{name: c.name, method: c.method, answer: c.answer, differ: c.differ, cut: c.cut}
		if r.method == "" {
			r.method = http.MethodGet
		}
		r.loopB = startRawBackend(t, c.answer, c.close)
		r.loopURL = serve(t, New(Options{}), appRoutes, []store.Endpoint{r.loopB.endpoint()})
		r.stdB = startRawBackend(t, c.answer, c.close)
		r.stdURL = serveNetHTTP(t, New(Options{}), appRoutes, []store.Endpoint{r.stdB.endpoint()})
		runs = append(runs, r)
	}
	exchange := func(r *run, base string) [2]*seenAs {
		tr := &http.Transport{DisableKeepAlives: false, DisableCompression: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		first := ask(client, r.method, base, "/")
		return [2]*seenAs{first, ask(client, http.MethodGet, base, "/next")}
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(2)
		go func() { defer wg.Done(); r.loop = exchange(r, r.loopURL) }()
		go func() { defer wg.Done(); r.std = exchange(r, r.stdURL) }()
	}
	wg.Wait()
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			for i, what := range []string{r.method + " /", "then GET /next"} {
				l, s := r.loop[i], r.std[i]
				// the one difference allowed: one side knows the body's length and sends it
				// with Content-Length, the other streams it (chunked or until close); the
				// client reads the same bytes either way
				framingOnly := l.err == "" && s.err == "" && l.bodyErr == "" && s.bodyErr == "" &&
					l.streams() != s.streams() && l.body == s.body
				lf, sf := l.facts(framingOnly), s.facts(framingOnly)
				var allowed []string
				switch {
				case i == 0 && r.cut:
					if l.err != "" || l.bodyErr == "" {
						t.Errorf("%s, backend answer %q: the body is broken, but the loop's client saw\n\t\t%s\nwant a cut body (an error reading it)", what, r.answer, l)
					}
					// net/http's path aborts the answer (http.ErrAbortHandler): before its
					// head left, the client gets no answer at all
					if s.err == "" && s.bodyErr == "" {
						t.Errorf("%s, backend answer %q: the body is broken, but net/http's client saw\n\t\t%s\nwant an error", what, r.answer, s)
					}
					continue
				case i == 0:
					allowed = r.differ
				case r.cut:
					allowed = []string{"reused: "} // the loop closed the client connection it cut
				}
				if len(allowed) > 0 {
					lf, sf = dropFacts(lf, allowed), dropFacts(sf, allowed)
				}
				if !slices.Equal(lf, sf) {
					t.Errorf("%s, backend answer %q:\nthe loop's client saw\n\t\t%s\nnet/http's\n\t\t%s\ndiffering in\n\t%s",
						what, r.answer, l, s, strings.Join(diffFacts(lf, sf), "\n\t"))
				} else if framingOnly {
					t.Logf("%s: framing differs, loop %s, net/http %s", what, l.framing, s.framing)
				}
				if l.statusText != s.statusText {
					t.Logf("%s: reason phrase differs: loop %q, net/http %q", what, l.statusText, s.statusText)
				}
			}
			// whatever the first answer was, the second request gets the backend's answer
			// to it: on either side, anything else is a bug of that side
			for side, a := range map[string]*seenAs{"the loop": r.loop[1], "net/http's path": r.std[1]} {
				if a.err != "" || a.status != 200 || a.body != "next" {
					t.Errorf("after backend answer %q, %s answered GET /next with\n\t\t%s\nwant the backend's answer to it, 200 \"next\"", r.answer, side, a)
				}
			}
			if l, s := r.loopB.requests(), r.stdB.requests(); !slices.Equal(l, s) {
				t.Logf("the backend saw\n\tbehind the loop: %q\n\tbehind net/http: %q", l, s)
			}
		})
	}
}

// dropFacts leaves out of facts the lines that start with one of prefixes.
func dropFacts(facts, prefixes []string) []string {
	return slices.DeleteFunc(slices.Clone(facts), func(f string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(f, p) })
	})
}

// diffFacts lists the lines only one side has, marked with who has them.
func diffFacts(loop, std []string) []string {
	var out []string
	for _, f := range loop {
		if !slices.Contains(std, f) {
			out = append(out, "loop only:     "+f)
		}
	}
	for _, f := range std {
		if !slices.Contains(loop, f) {
			out = append(out, "net/http only: "+f)
		}
	}
	return out
}

// TestLoopPassesAServerSentEventStreamAtOnce has a backend send server-sent events, each
// only once the client got the one before (or 5 s passed, a failure): the loop must pass
// each event on as it comes, not when the stream ends or its buffer fills.
func TestLoopPassesAServerSentEventStreamAtOnce(t *testing.T) {
	const events = 3
	got := make(chan int, events)         // the client got event n
	late := make(chan int, events)        // the backend gave up waiting for the client to get event n
	handlerDone := make(chan struct{}, 1) // the stream's handler returned
	b := startBackend(t, "sse", func(w http.ResponseWriter, r *http.Request) {
		defer func() { handlerDone <- struct{}{} }()
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		for n := 1; n <= events; n++ {
			if n > 1 {
				time.Sleep(200 * time.Millisecond)
			}
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", n, n)
			w.(http.Flusher).Flush()
			select {
			case <-got:
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Second):
				late <- n
			}
		}
	})
	srv, addr := startServer(t, New(Options{}), appRoutes, []store.Endpoint{b.endpoint("app", 1)})
	url := "http://" + addr
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	req, _ := http.NewRequest(http.MethodGet, url+"/events", nil)
	req.Host = "app.test"
	req.Header.Set("Accept", "text/event-stream")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := (&http.Client{Transport: tr}).Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" || resp.ContentLength != -1 {
		t.Fatalf("%d, Content-Type %q, length %d: want 200, text/event-stream, no length", resp.StatusCode, ct, resp.ContentLength)
	}
	br := bufio.NewReader(resp.Body)
	for n := 1; n <= events; n++ {
		var ev strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("event %d: %q, %v", n, ev.String()+line, err)
			}
			ev.WriteString(line)
			if line == "\n" {
				break
			}
		}
		select {
		case m := <-late:
			t.Fatalf("the client got event %d only after the backend had waited 5 s for it: the loop held the stream back", m)
		default:
		}
		if want := fmt.Sprintf("id: %d\ndata: event %d\n\n", n, n); ev.String() != want {
			t.Fatalf("event %d: %q, want %q", n, ev.String(), want)
		}
		got <- n
	}
	rest, err := io.ReadAll(br)
	select {
	case m := <-late:
		t.Fatalf("the client got event %d only after the backend had waited 5 s for it: the loop held the stream back", m)
	default:
	}
	if err != nil || len(rest) != 0 {
		t.Fatalf("after the last event: %q, %v; want the stream to end cleanly", rest, err)
	}
	select {
	case <-handlerDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream's handler did not return")
	}
	if n := srv.handedOver.Load(); n != 0 {
		t.Errorf("%d connections went to net/http's server: the stream must have been the loop's", n)
	}
}

// A client that leaves a quiet stream ends it at once: the loop watches the client
// while the backend is silent, so the backend's request ends without waiting for its
// next write.
func TestAClientLeavingAQuietStreamEndsItsBackendRequest(t *testing.T) {
	ended := make(chan time.Duration, 1)
	b := startBackend(t, "sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		start := time.Now()
		select {
		case <-r.Context().Done():
			ended <- time.Since(start)
		case <-time.After(20 * time.Second): // the next event would be due
			ended <- time.Since(start)
		}
	})
	srv, addr := startServer(t, New(Options{}), appRoutes, []store.Endpoint{b.endpoint("app", 1)})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "GET /events HTTP/1.1\r\nHost: app.test\r\nAccept: text/event-stream\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	line := make([]byte, len("data: first"))
	if _, err := io.ReadFull(resp.Body, line); err != nil || string(line) != "data: first" {
		t.Fatalf("first event: %q %v", line, err)
	}
	time.Sleep(300 * time.Millisecond) // the stream is quiet: the loop watches the client now
	c.Close()
	select {
	case d := <-ended:
		if d > 5*time.Second {
			t.Errorf("the backend's request ended %s after the client left, want at once", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the backend's request did not end after the client left its stream")
	}
	if n := srv.handedOver.Load(); n != 0 {
		t.Errorf("%d connections went to net/http's server, want the stream on the loop", n)
	}
}
