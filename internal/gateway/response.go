package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"time"
)

// A backend's answer on the connection loop. The common answer, HTTP/1.1 with a
// Content-Length (or no body) and plain header fields, is parsed in place and passed on
// byte for byte, minus its hop-by-hop fields. Anything else (chunked or close-delimited
// bodies, 1xx answers, trailers, fields named by Connection, odd lines) is read by
// net/http's http.ReadResponse and written out again, chunked when its length is unknown
// and flushed piece by piece, so that streams (server-sent events) pass at once.

// respHead is a parsed response head; its slices point into the backend connection's
// read buffer.
type respHead struct {
	status  int
	line    []byte // status code and reason phrase: "200 OK"
	fields  []field
	length  int64 // Content-Length; -1 when absent
	chunked bool  // Transfer-Encoding: chunked, passed on as it comes
	close   bool  // Connection: close
	hasDate bool
	size    int
	result  headResult // of parseResponseHead: headOther sends the answer through net/http's reader
}

// parseResponseHead parses the response head at the start of b.
func parseResponseHead(b []byte, r *respHead) headResult {
	*r = respHead{fields: r.fields[:0], length: -1}
	const proto = "HTTP/1.1 "
	if len(b) < len(proto)+4 {
		// incomplete only while it can still become a status line: a longer read must not
		// make undecided what a shorter one decided
		n := min(len(b), len(proto))
		if string(b[:n]) != proto[:n] {
			return headOther
		}
		for _, c := range b[n:] {
			if c < '0' || c > '9' {
				return headOther
			}
		}
		return headIncomplete
	}
	if string(b[:len(proto)]) != proto {
		return headOther
	}
	i := len(proto)
	code := 0
	for _, c := range b[i : i+3] {
		if c < '0' || c > '9' {
			return headOther
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 || (b[i+3] != ' ' && b[i+3] != '\r') {
		return headOther // informational answers precede the real one: net/http's reader skips them
	}
	start := i
	for i += 3; i < len(b) && b[i] != '\r'; i++ {
		if c := b[i]; c < ' ' && c != '\t' || c == 0x7f {
			return headOther
		}
	}
	if i+1 >= len(b) {
		return headIncomplete
	}
	if b[i+1] != '\n' {
		return headOther
	}
	r.status, r.line = code, b[start:i]
	i += 2
	for {
		if i+1 < len(b) && b[i] == '\r' {
			if b[i+1] != '\n' {
				return headOther
			}
			r.size = i + 2
			if r.chunked && r.length >= 0 {
				return headOther // both: net/http's reader decides
			}
			return headFast
		}
		if i == len(b) || (i+1 == len(b) && b[i] == '\r') {
			return headIncomplete
		}
		n, res := parseResponseField(b[i:], r)
		if res != headFast {
			return res
		}
		i += n
	}
}

// parseResponseField parses one header line of a response, like parseField.
func parseResponseField(b []byte, r *respHead) (int, headResult) {
	var h reqHead
	n, res := parseLine(b)
	if res != headFast {
		return 0, res
	}
	name, value := splitLine(b[:n])
	kind := fieldPlain
	switch {
	case foldEq(name, "content-length"):
		if r.length >= 0 || len(value) == 0 || len(value) > 18 {
			return 0, headOther
		}
		var l int64
		for _, c := range value {
			if c < '0' || c > '9' {
				return 0, headOther
			}
			l = l*10 + int64(c-'0')
		}
		r.length = l
		if r.status == http.StatusNoContent {
			kind = fieldHop // a 204 has no Content-Length (RFC 9110 8.6)
		}
	case foldEq(name, "transfer-encoding"):
		if r.chunked || !foldEq(value, "chunked") {
			return 0, headOther
		}
		r.chunked = true
		if bodiless(http.MethodGet, r.status) {
			kind = fieldHop // no body to frame: dropped, as on net/http's path (RFC 9112 6.1)
		}
	case foldEq(name, "trailer"), foldEq(name, "upgrade"):
		return 0, headOther
	case foldEq(name, "connection"):
		if _, res := connectionField(value, &h); res != headFast {
			return 0, res
		}
		r.close = r.close || h.close
		kind = fieldHop
	case foldEq(name, "keep-alive"), foldEq(name, "proxy-connection"), foldEq(name, "te"), foldEq(name, "proxy-authenticate"),
		foldEq(name, "proxy-authorization"):
		kind = fieldHop
	case foldEq(name, "date"):
		r.hasDate = true
	}
	if len(r.fields) == maxFields {
		return 0, headOther
	}
	r.fields = append(r.fields, field{name: name, value: value, kind: kind})
	return n, headFast
}

// waitResponseHead reads from bc until its buffer holds a complete response head, or
// the start of one for net/http's reader. After a read error (a deadline) it may be
// called again: what was read stays buffered.
func waitResponseHead(bc *bconn) error {
	for {
		n := bc.br.Buffered()
		if n > 0 {
			buf, _ := bc.br.Peek(n)
			if res := parseResponseHead(buf, &bc.resp); res != headIncomplete {
				bc.resp.result = res
				return nil
			}
			if n == bc.br.Size() {
				bc.resp.result = headOther
				return nil
			}
		}
		if _, err := bc.br.Peek(n + 1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// bodiless reports whether a response to method with this status has no body, whatever
// its Content-Length says.
func bodiless(method string, status int) bool {
	return method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified
}

// relay passes the response buffered on bc to the client, gives bc back to its backend
// when it may be kept, and reports whether the client connection may be kept.
func (x *trip) relay(bc *bconn) bool {
	c, r := x.c, &bc.resp
	noBody := bodiless(c.h.method, r.status)
	if r.result != headFast || (!noBody && r.length < 0 && !r.chunked) {
		return x.relayOther(bc)
	}
	x.result(r.status)
	bw := responseWriter(c.nc)
	defer putResponseWriter(bw)
	bw.WriteString("HTTP/1.1 ")
	bw.Write(r.line)
	if len(r.line) == 3 {
		bw.WriteByte(' ') // status-line = HTTP-version SP status-code SP [reason-phrase]
	}
	bw.WriteString("\r\n")
	hasTraceparent := false
	for i := range r.fields {
		if f := &r.fields[i]; f.kind == fieldPlain {
			bw.Write(f.name)
			bw.WriteString(": ")
			bw.Write(f.value)
			bw.WriteString("\r\n")
			hasTraceparent = hasTraceparent || len(f.name) == 11 && foldEq(f.name, "traceparent")
		}
	}
	if c.span.header != "" && !hasTraceparent {
		bw.WriteString("Traceparent: ")
		bw.WriteString(c.span.header)
		bw.WriteString("\r\n")
	}
	if !r.hasDate {
		bw.WriteString("Date: ")
		bw.Write(httpDate(x.start))
		bw.WriteString("\r\n")
	}
	keep := c.keep()
	if !keep {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	backendKeep := !r.close
	_, _ = bc.br.Discard(r.size)
	var werr, rerr error
	switch {
	case noBody:
	case r.chunked:
		werr, rerr = copyChunked(bw, bc.br, func() error { return x.awaitChunk(bc) })
	default:
		werr, rerr = copyLength(bw, bc.br, r.length)
	}
	if werr == nil {
		werr = bw.Flush()
	}
	x.done(bc, backendKeep && werr == nil && rerr == nil, rerr)
	return keep && werr == nil && rerr == nil
}

// copyLength copies n bytes from br to bw, reading straight into bw's free buffer. What
// a read from the backend's socket brings is passed on when the socket had no more for
// now (a short read), so that a slow body flows as it comes; a body that arrives at once
// leaves in as few writes as bw's size allows.
func copyLength(bw *bufio.Writer, br *bufio.Reader, n int64) (werr, rerr error) {
	for n > 0 {
		if bw.Available() == 0 {
			if err := bw.Flush(); err != nil {
				return err, nil
			}
		}
		buf := bw.AvailableBuffer()[:min(int64(bw.Available()), n)]
		fromSocket := br.Buffered() == 0
		k, err := br.Read(buf)
		bw.Write(buf[:k])
		n -= int64(k)
		if err != nil && n > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if fromSocket && k < len(buf) && n > 0 {
			if err := bw.Flush(); err != nil {
				return err, nil
			}
		}
	}
	return nil, nil
}

// errMalformedChunk is a chunked body the loop cannot frame.
var errMalformedChunk = errors.New("malformed chunked encoding from the backend")

// Limits of net/http's chunked reader, which the loop keeps so as not to pass on a body
// that a client reading with it refuses: the trailer section, up to its empty line, must
// fit in the reader's buffer (4 KiB by default); and the bytes of chunk-size lines,
// extensions included, may exceed 16 bytes a chunk plus twice its data by at most 16 KiB.
const (
	maxTrailerBytes   = 4 << 10
	maxChunkOverhead  = 16 << 10
	chunkOverheadFree = 16
)

// copyChunked passes a chunked body on as it comes, chunk sizes, extensions and trailers
// included, checking the framing as it goes. Before it waits for the backend's next
// chunk it sends what it has, so that a stream (server-sent events) is not held back.
func copyChunked(bw *bufio.Writer, br *bufio.Reader, await func() error) (werr, rerr error) {
	line := func() ([]byte, error) {
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return nil, err
			}
			if await != nil {
				if err := await(); err != nil {
					return nil, err
				}
			}
		}
		l, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			err = errMalformedChunk
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return l, err
	}
	var overhead int64
	for {
		l, err := line()
		if err != nil {
			return nil, err
		}
		overhead += int64(len(l))
		size, l, ok := chunkSize(l)
		if !ok {
			return nil, errMalformedChunk
		}
		if overhead = max(overhead-chunkOverheadFree-2*size, 0); overhead > maxChunkOverhead {
			return nil, errMalformedChunk
		}
		bw.Write(l)
		if size == 0 {
			break
		}
		if werr, rerr := copyLength(bw, br, size); werr != nil || rerr != nil {
			return werr, rerr
		}
		end, err := br.Peek(2)
		if err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		if end[0] != '\r' || end[1] != '\n' {
			return nil, errMalformedChunk
		}
		bw.Write(end)
		_, _ = br.Discard(2)
	}
	// trailer fields, up to the empty line; held until then, so that a folded line
	// (obs-fold) can be joined to the one it continues, as net/http's reader does: the
	// two trimmed of spaces and tabs, one space between
	var trailers []byte
	for read := 0; ; {
		l, err := line()
		if err != nil {
			return nil, err
		}
		if read += len(l); read > maxTrailerBytes {
			return nil, errMalformedChunk
		}
		if len(l) == 2 && l[0] == '\r' {
			bw.Write(trailers)
			bw.Write(l)
			return nil, nil
		}
		if (l[0] == ' ' || l[0] == '\t') && len(trailers) > 0 {
			if l[len(l)-2] != '\r' {
				return nil, errMalformedChunk
			}
			// a line of only spaces would leave net/http's reading a trailing space,
			// which a joined line cannot carry
			cont := bytes.Trim(l[:len(l)-2], " \t")
			if len(cont) == 0 || bytes.ContainsFunc(cont, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
				return nil, errMalformedChunk
			}
			trailers = bytes.TrimRight(trailers[:len(trailers)-2], " \t")
			trailers = append(append(append(trailers, ' '), cont...), "\r\n"...)
			continue
		}
		if n, res := parseLine(l); res != headFast || n != len(l) {
			return nil, errMalformedChunk
		}
		trailers = append(trailers, l...)
	}
}

// chunkSize reads a chunk-size line ("1a2b;ext\r\n"): up to 15 hex digits, an optional
// extension of visible characters or spaces and tabs that net/http's reader skips, CRLF.
// It returns the line to pass on: the same, or without the spaces.
func chunkSize(l []byte) (int64, []byte, bool) {
	if len(l) < 3 || l[len(l)-2] != '\r' {
		return 0, nil, false
	}
	var n int64
	i := 0
	for ; i < len(l)-2; i++ {
		c := l[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i == 15 {
			return 0, nil, false
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, nil, false
	}
	rest := l[i : len(l)-2]
	switch {
	case len(rest) == 0:
	case len(bytes.Trim(rest, " \t")) == 0:
		l = append(l[:i:i], "\r\n"...) // a copy: l is the reader's buffer
	case rest[0] == ';':
		for _, c := range rest {
			if c < ' ' && c != '\t' || c == 0x7f {
				return 0, nil, false
			}
		}
	default:
		return 0, nil, false
	}
	return n, l, true
}

// result records the answer's status for outlier ejection.
func (x *trip) result(status int) {
	x.code = status
	if x.rt.result(x.backend, status >= 500) {
		x.c.g.ejected(x.rt, x.backend)
	}
}

// done gives bc back to the backend's kept connections, or closes it.
func (x *trip) done(bc *bconn, keep bool, rerr error) {
	// bytes after the answer would be read as the next request's answer
	if !keep || bc.br.Buffered() > 0 {
		bc.Close()
		if rerr != nil {
			x.c.g.log.Debug("copy response", "app", x.rt.app, "instance", x.backend.instance, "err", rerr)
		}
		return
	}
	x.backend.conns.put(bc)
}

// awaitChunk waits for the next chunk of a streamed answer; when the backend is quiet
// for longer than watchAfter (server-sent events between two events, say), it watches
// the client meanwhile, so that a client that leaves ends the stream and its backend
// connection at once rather than at the backend's next write.
func (x *trip) awaitChunk(bc *bconn) error {
	_ = bc.SetReadDeadline(time.Now().Add(watchAfter))
	_, err := bc.br.Peek(1)
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		_ = bc.SetReadDeadline(time.Time{})
		return nil // data, or an error the chunk's read reports
	}
	_ = bc.SetReadDeadline(time.Time{}) // before the watch, whose interrupt must win
	w := x.c.watch(bc)
	_, _ = bc.br.Peek(1)
	if w.stop(x.c) {
		return errClientGone
	}
	return nil
}

// relayOther reads the answer with net/http's reader and writes it out again.
func (x *trip) relayOther(bc *bconn) bool {
	c := x.c
	req := &http.Request{Method: c.h.method}
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(bc.br, req)
		if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
			err = errors.New("101 Switching Protocols to a request without Upgrade")
		}
		if err != nil {
			bc.Close()
			x.c.g.backendFailed(x.rt, x.backend, err)
			if timedOut(err) {
				x.code = http.StatusGatewayTimeout
				return c.writeError(x.start, http.StatusGatewayTimeout, "tend: "+x.rt.app+" instance "+x.backend.instance+" did not answer in time")
			}
			x.code = http.StatusBadGateway
			return c.writeError(x.start, http.StatusBadGateway, "tend: "+x.rt.app+" instance "+x.backend.instance+" answered with a malformed response")
		}
		if resp.StatusCode >= 200 {
			break
		}
	}
	_ = bc.SetReadDeadline(time.Time{})
	defer resp.Body.Close()
	x.result(resp.StatusCode)
	noBody := bodiless(c.h.method, resp.StatusCode)
	chunked := !noBody && resp.ContentLength < 0
	bw := responseWriter(c.nc)
	defer putResponseWriter(bw)
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(resp.StatusCode))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(resp.StatusCode)) // not the backend's text, which net/http does not check
	bw.WriteString("\r\n")
	skip := hopsOf(resp.Header)
	for k, vv := range resp.Header {
		if !skip.has(k) && (k != "Content-Length" || noBody && resp.StatusCode != http.StatusNoContent) {
			writeField(bw, k, vv)
		}
	}
	if _, ok := resp.Header["Traceparent"]; !ok && c.span.header != "" {
		writeField(bw, "Traceparent", []string{c.span.header})
	}
	if _, ok := resp.Header["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(httpDate(x.start))
		bw.WriteString("\r\n")
	}
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case !noBody:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(resp.ContentLength, 10))
		bw.WriteString("\r\n")
	}
	keep := c.keep()
	if !keep {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	var werr, rerr error
	if !noBody {
		werr, rerr = streamBody(bw, resp.Body, bc.br, chunked)
	}
	if chunked && werr == nil && rerr == nil {
		bw.WriteString("0\r\n")
		for k, vv := range resp.Trailer {
			writeField(bw, k, vv)
		}
		bw.WriteString("\r\n")
	}
	if werr == nil {
		werr = bw.Flush()
	}
	x.done(bc, !resp.Close && werr == nil && rerr == nil, rerr)
	return keep && werr == nil && rerr == nil
}

// streamBody copies body (read from br) to bw; chunked, each piece is sent as it comes,
// unless more of it is buffered already.
func streamBody(bw *bufio.Writer, body io.Reader, br *bufio.Reader, chunked bool) (werr, rerr error) {
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	var cw io.Writer = bw
	if chunked {
		cw = httputil.NewChunkedWriter(bw)
	}
	for {
		n, err := body.Read(*buf)
		if n > 0 {
			if _, werr := cw.Write((*buf)[:n]); werr != nil {
				return werr, nil
			}
			if chunked && br.Buffered() == 0 {
				if werr := bw.Flush(); werr != nil {
					return werr, nil
				}
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
