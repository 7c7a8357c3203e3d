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

// previewed reports whether a request with X-Tend-Preview value from ip reaches rt's preview.
func (rt *appRoute) previewed(value, ip string) bool {
	if value == "" {
		return false
	}
	if rt.previewToken != "" && subtle.ConstantTimeCompare([]byte(value), []byte(rt.previewToken)) == 1 {
		return true
	}
	if value != "1" || len(rt.previewFrom) == 0 {
		return false
	}
	addr, err := netip.ParseAddr(ip)
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

// remoteIP is the host of a net/http request's RemoteAddr.
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
	return rt.previewToken != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get(previewHeader)), []byte(rt.previewToken)) == 1
}
