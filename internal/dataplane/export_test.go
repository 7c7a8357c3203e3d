package dataplane

import "github.com/tendhq/tend/internal/gateway"

// Refollow hands the plane its routing changed by change and of the same store
// revision, as the store's watches do when an endpoint's change arrives after a route's
// of a later revision.
func (p *Plane) Refollow(change func(*gateway.Routing)) {
	p.mu.Lock()
	r, raw := p.routing, p.raw
	p.mu.Unlock()
	change(&r)
	p.followed(r, raw)
}
