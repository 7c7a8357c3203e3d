// Package clientip finds the address of a request's client, trusting forwarding headers only from configured proxies.
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver knows which proxies may speak for a client.
type Resolver struct {
	trusted []netip.Prefix
}

// New trusts X-Forwarded-For and X-Real-IP only from peers in the given CIDRs or addresses
// (e.g. "127.0.0.1", "10.0.0.0/8"). With none, the peer address is always the client.
func New(trusted ...string) (*Resolver, error) {
	r := &Resolver{}
	for _, t := range trusted {
		if !strings.Contains(t, "/") {
			a, err := netip.ParseAddr(t)
			if err != nil {
				return nil, err
			}
			t = netip.PrefixFrom(a, a.BitLen()).String()
		}
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return nil, err
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the client's address: the peer, or, when the peer is a trusted proxy, the
// right-most address in X-Forwarded-For that is not a trusted proxy.
func (r *Resolver) ClientIP(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || r == nil || !r.isTrusted(peer) {
		return host
	}
	xff := req.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return host // a malformed hop: do not trust what lies beyond it
			}
			if !r.isTrusted(a) {
				return a.Unmap().String()
			}
		}
	}
	if real := req.Header.Get("X-Real-Ip"); real != "" {
		if a, err := netip.ParseAddr(real); err == nil {
			return a.Unmap().String()
		}
	}
	return host
}
