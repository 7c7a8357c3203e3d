package gateway

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
)

// Preview is by invitation: header X-Tend-Preview reaches a revision not yet promoted
// (blue-green's preview, a canary whatever its weight) only with the rollout's token, or
// with "1" from an address of the gateway's PreviewFrom. Anything else is ignored, and
// the header never reaches an instance.
const previewHeader = "X-Tend-Preview"

// previewed reports whether a request with X-Tend-Preview value from remote (an
// address, with or without its port) reaches rt's preview.
func (rt *appRoute) previewed(value, remote string) bool {
	if value == "" {
		return false
	}
	if rt.hasToken(value) {
		return true
	}
	if value != "1" || len(rt.previewFrom) == 0 {
		return false
	}
	addr, err := netip.ParseAddr(remoteIP(remote))
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range rt.previewFrom {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// hasToken reports whether value is the rollout's preview token (compared in constant time).
func (rt *appRoute) hasToken(value string) bool {
	return rt.previewToken != "" && subtle.ConstantTimeCompare([]byte(value), []byte(rt.previewToken)) == 1
}

// remoteIP is the host of an address with a port (a net/http request's RemoteAddr), or
// the address itself.
func remoteIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// previewOverPlain reports whether r carries the rollout's preview token: it is served
// over plain HTTP even where the route redirects to HTTPS, for tend's own analysis load
// (which reaches the gateway on its plain listener) and a tester who asked for it; a
// redirect would send the token to wherever the route's host resolves.
func (rt *appRoute) previewOverPlain(r *http.Request) bool {
	return rt.hasToken(r.Header.Get(previewHeader))
}
