package gateway

import (
	"bytes"
	"unsafe"
)

// The connection loop (conn.go) reads request heads itself and answers the common case,
// an HTTP/1.1 request without a body, without net/http's server. Its parser accepts a
// strict subset of what net/http accepts and reads it as net/http would; anything else
// (a body, an upgrade, HTTP/1.0, a percent-encoded path, a folded or odd header line) is
// not refused here but handed, bytes and all, to net/http's server, which decides. So a
// client sees one set of rules, net/http's, whichever path its request takes; the fuzz
// and smuggling tests (head_test.go, conn_test.go) hold the two to that.

// headResult says what the parser made of the bytes read so far.
type headResult int

const (
	headIncomplete headResult = iota // no complete head yet, and nothing outside the subset
	headFast                         // a complete head the loop answers itself
	headOther                        // for net/http's server
)

// Kinds of header fields the loop treats specially.
const (
	fieldPlain       uint8 = iota
	fieldHop               // hop-by-hop: not forwarded
	fieldForwarded         // X-Forwarded-Host, X-Forwarded-Proto, Forwarded: replaced by the gateway's
	fieldXFF               // X-Forwarded-For: extended with the client's address
	fieldRequestID         // X-Request-Id
	fieldPreview           // X-Tend-Preview: read by the gateway, never forwarded
	fieldTraceparent       // Traceparent: replaced by the gateway's span when it traces
)

// field is one header line; name and value point into the connection's read buffer.
type field struct {
	name, value []byte
	kind        uint8
}

// maxFields bounds the header lines of a request on the loop; a request with more goes to
// net/http's server.
const maxFields = 100

// reqHead is a parsed request head. Its byte slices point into the read buffer and are
// valid until the head is discarded from it.
type reqHead struct {
	method string // one of the methods below, as a constant
	uri    []byte // origin-form: path and query
	path   []byte // uri up to '?'
	host   []byte
	fields []field // every header line but Host, in order
	close  bool    // Connection: close
	hasID  bool    // an X-Request-Id field is present
	size   int     // bytes of the head, final CRLF included
}

// loopMethods are the methods the loop serves (without a body); CONNECT, TRACE and
// unknown methods go to net/http's server.
var loopMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}

// parseHead parses the request head at the start of b.
func parseHead(b []byte, h *reqHead) headResult {
	*h = reqHead{fields: h.fields[:0]}
	i := 0
	for _, m := range loopMethods {
		if len(b) > len(m) && string(b[:len(m)]) == m && b[len(m)] == ' ' {
			h.method, i = m, len(m)+1
			break
		}
	}
	if h.method == "" {
		if len(b) < len("OPTIONS ") && isPrefixOfMethod(b) {
			return headIncomplete
		}
		return headOther
	}
	// request-target: origin-form only, from a conservative alphabet
	start, query := i, -1
	for ; i < len(b) && b[i] != ' '; i++ {
		c := b[i]
		switch {
		case c == '?' && query < 0:
			query = i
		case c == '%' && query >= 0: // escapes in the query are not decoded for routing
		case !uriByte[c]:
			return headOther
		}
	}
	if i == len(b) {
		return headIncomplete
	}
	if i == start || b[start] != '/' {
		return headOther
	}
	h.uri = b[start:i]
	h.path = h.uri
	if query >= 0 {
		h.path = b[start:query]
	}
	i++
	const proto = "HTTP/1.1\r\n"
	if rest := b[i:]; len(rest) < len(proto) {
		if !bytes.HasPrefix([]byte(proto), rest) {
			return headOther
		}
		return headIncomplete
	}
	if string(b[i:i+len(proto)]) != proto {
		return headOther
	}
	i += len(proto)
	for {
		if i+1 < len(b) && b[i] == '\r' {
			if b[i+1] != '\n' {
				return headOther
			}
			h.size = i + 2
			if h.host == nil {
				return headOther // net/http answers 400: HTTP/1.1 requires Host
			}
			return headFast
		}
		if i == len(b) || (i+1 == len(b) && b[i] == '\r') {
			return headIncomplete
		}
		n, res := parseField(b[i:], h)
		if res != headFast {
			return res
		}
		i += n
	}
}

// parseField parses one header line at the start of b and records it in h; it returns
// the line's length and headFast when it is complete and inside the subset.
func parseField(b []byte, h *reqHead) (int, headResult) {
	n, res := parseLine(b)
	if res != headFast {
		return 0, res
	}
	name, value := splitLine(b[:n])
	kind, res := classify(name, value, h)
	if res != headFast {
		return 0, res
	}
	if kind == fieldHost {
		h.host = value
		return n, headFast
	}
	if len(h.fields) == maxFields {
		return 0, headOther
	}
	h.fields = append(h.fields, field{name: name, value: value, kind: kind})
	return n, headFast
}

// parseLine checks one header line at the start of b (a token, a colon, a value of
// visible characters, spaces and tabs; no folding) and returns its length, CRLF included.
func parseLine(b []byte) (int, headResult) {
	i := 0
	for i < len(b) && tokenByte[b[i]] {
		i++
	}
	if i == len(b) {
		return 0, headIncomplete
	}
	if i == 0 || b[i] != ':' {
		return 0, headOther // an empty name, a space before the colon, a folded line
	}
	for ; i < len(b) && b[i] != '\r'; i++ {
		if c := b[i]; c < ' ' && c != '\t' || c == 0x7f {
			return 0, headOther
		}
	}
	if i+1 >= len(b) {
		return 0, headIncomplete
	}
	if b[i+1] != '\n' {
		return 0, headOther
	}
	return i + 2, headFast
}

// splitLine splits a checked header line into its name and its value without the
// surrounding spaces and tabs.
func splitLine(line []byte) (name, value []byte) {
	colon := bytes.IndexByte(line, ':')
	v := line[colon+1 : len(line)-2]
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return line[:colon], v
}

// own copies the head's bytes out of the read buffer, which may then be refilled.
func (h *reqHead) own() {
	buf := make([]byte, 0, h.size)
	re := func(b []byte) []byte {
		s := len(buf)
		buf = append(buf, b...)
		return buf[s:len(buf):len(buf)]
	}
	pathLen := len(h.path)
	h.uri = re(h.uri)
	h.path = h.uri[:pathLen]
	h.host = re(h.host)
	for i := range h.fields {
		h.fields[i].name = re(h.fields[i].name)
		h.fields[i].value = re(h.fields[i].value)
	}
}

// fieldHost marks the Host line, which is kept apart from the other fields.
const fieldHost uint8 = 255

// classify says what the loop does with a header field, or that the request is not for
// the loop.
func classify(name, value []byte, h *reqHead) (uint8, headResult) {
	switch len(name) {
	case 2:
		if foldEq(name, "te") {
			return fieldHop, headFast
		}
	case 4:
		if foldEq(name, "host") {
			if h.host != nil || !validHost(value) {
				return 0, headOther // two Hosts, an empty or odd one: net/http decides
			}
			return fieldHost, headFast
		}
	case 6:
		if foldEq(name, "expect") || foldEq(name, "pragma") { // net/http's reader adds Cache-Control for Pragma
			return 0, headOther
		}
	case 7:
		if foldEq(name, "upgrade") || foldEq(name, "trailer") {
			return 0, headOther
		}
	case 9:
		if foldEq(name, "forwarded") {
			return fieldForwarded, headFast
		}
	case 10:
		if foldEq(name, "connection") {
			return connectionField(value, h)
		}
		if foldEq(name, "keep-alive") {
			return fieldHop, headFast
		}
	case 11:
		if foldEq(name, "traceparent") {
			return fieldTraceparent, headFast
		}
	case 12:
		if foldEq(name, "x-request-id") {
			if !h.hasID && len(value) == 0 {
				return 0, headOther // net/http's path replaces an empty id
			}
			h.hasID = true
			return fieldRequestID, headFast
		}
	case 14:
		if foldEq(name, "content-length") {
			return 0, headOther
		}
		if foldEq(name, "x-tend-preview") {
			return fieldPreview, headFast
		}
	case 15:
		if foldEq(name, "x-forwarded-for") {
			if len(value) == 0 {
				return 0, headOther // kept as an empty element on net/http's path
			}
			return fieldXFF, headFast
		}
	case 16:
		if foldEq(name, "proxy-connection") {
			return fieldHop, headFast
		}
		if foldEq(name, "x-forwarded-host") {
			return fieldForwarded, headFast
		}
	case 17:
		if foldEq(name, "transfer-encoding") {
			return 0, headOther
		}
		if foldEq(name, "x-forwarded-proto") {
			return fieldForwarded, headFast
		}
	case 18:
		if foldEq(name, "proxy-authenticate") {
			return fieldHop, headFast
		}
	case 19:
		if foldEq(name, "proxy-authorization") {
			return fieldHop, headFast
		}
	}
	return fieldPlain, headFast
}

// connectionField accepts a Connection field naming only close and keep-alive; one that
// names other fields as hop-by-hop goes to net/http's server.
func connectionField(value []byte, h *reqHead) (uint8, headResult) {
	for len(value) > 0 {
		tok := value
		if i := bytes.IndexByte(value, ','); i >= 0 {
			tok, value = value[:i], value[i+1:]
		} else {
			value = nil
		}
		tok = bytes.Trim(tok, " \t")
		switch {
		case len(tok) == 0:
		case foldEq(tok, "close"):
			h.close = true
		case foldEq(tok, "keep-alive"):
		default:
			return 0, headOther
		}
	}
	return fieldHop, headFast
}

// validHost accepts a non-empty reg-name, IPv4 or bracketed IPv6 host with an optional port.
func validHost(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if !hostByte[c] {
			return false
		}
	}
	return true
}

// foldEq reports whether b equals the lower-case ASCII s, ignoring case.
func foldEq(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// isPrefixOfMethod reports whether b could still become one of loopMethods and a space.
func isPrefixOfMethod(b []byte) bool {
	for _, m := range loopMethods {
		if len(b) <= len(m) && string(b) == m[:len(b)] {
			return true
		}
	}
	return false
}

// str views b as a string without copying, for lookups that do not keep it.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

var tokenByte, uriByte, hostByte [256]bool

func init() {
	for c := 0; c < 256; c++ {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		tokenByte[c] = alnum || c < 128 && bytes.IndexByte([]byte("!#$&'*+-.^_`|~%"), byte(c)) >= 0
		uriByte[c] = alnum || c < 128 && bytes.IndexByte([]byte("-._~!$&'()*+,;=:@/?"), byte(c)) >= 0
		hostByte[c] = alnum || c < 128 && bytes.IndexByte([]byte("-._:[]"), byte(c)) >= 0
	}
}
