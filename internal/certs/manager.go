// Package certs obtains, renews and keeps the gateway's TLS certificates: from an ACME CA, or from the user's files.
//
// A Manager runs in tend server, beside the store: it follows the routes, orders a
// certificate for every host of a route with tls.auto (and, with tls.onDemand, for the
// hosts the route's approval URL accepts at their first handshake: see Want), reads the
// files of a route with tls.cert and tls.key, and keeps one store.Certificate record per
// host, which the gateway serves by SNI. The gateway process answers the CA's challenges, through the
// Solver the server gives the Manager.
//
// Why not golang.org/x/crypto/acme/autocert or certmagic: both want to own the listener
// (or its tls.Config and HTTP handler) and a cache of their own in the process that
// serves TLS. In tend, the ACME client runs in tend server, which has the store, while
// the challenges are answered by the separate gateway process; so tend needs a hook at
// the level of a challenge solver and keeps its certificates and account in its own
// store. x/crypto/acme gives exactly the protocol, and nothing that would be in the way.
package certs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// LetsEncrypt is the directory of Let's Encrypt's production CA.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Challenge kinds tend answers.
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
)

// wildcardError is the LastError of a wildcard host of a route with tls.auto.
const wildcardError = "a wildcard host needs a DNS-01 challenge, which tend does not do: list the names, or give route.tls a cert and key"

// Tunables (variables for the tests).
var (
	// pollInterval is how often the files of routes with tls.cert and tls.key are
	// checked for changes.
	pollInterval = 10 * time.Second
	// backoffBase is the wait after a first failed order; it doubles with each failure
	// up to backoffMax.
	backoffBase = time.Minute
	backoffMax  = time.Hour
	// orderTimeout bounds one order, from its creation to the certificate.
	orderTimeout = 2 * time.Minute
	// maxWait bounds a sleep of Run between checks.
	maxWait = time.Hour
	// maxOrders is how many orders run at once (never two for one host).
	maxOrders = 4
	// unclaimedFor is how long the record of a host no route claims is kept (unserved).
	unclaimedFor = 7 * 24 * time.Hour
)

// Solver makes the gateway answer an ACME challenge.
type Solver interface {
	// Present returns once the gateway answers ch.
	Present(ctx context.Context, ch gateway.Challenge) error
	CleanUp(ctx context.Context, ch gateway.Challenge)
}

// Options configure a Manager.
type Options struct {
	// Directory is the ACME directory URL (default LetsEncrypt).
	Directory string
	// Email is the account's contact (optional).
	Email string
	// CAFile is a PEM file of extra roots to trust for the ACME server's HTTPS (e.g.
	// Pebble's); "" trusts the system roots only.
	CAFile string
	Store  *store.Store
	Solver Solver
	Logger *slog.Logger
	// Challenges are the kinds to answer, in order of preference (default http-01, then
	// tls-alpn-01); the attempt after a failed order uses the next kind.
	Challenges []string
	// ServerHosts are names the server itself needs certificates for (the API's, with
	// --api-tls-cert auto), ordered from the CA like a tls.auto route's; their records
	// have the app ServerApp, and a route claiming one of them does not change that.
	ServerHosts []string
}

// ServerApp is the app of the records of Options.ServerHosts: no app has this name.
const ServerApp = "(server)"

// Manager keeps the certificate records of the routes' hosts.
type Manager struct {
	dir        string
	email      string
	store      *store.Store
	solver     Solver
	log        *slog.Logger
	challenges []string
	transport  *http.Transport
	server     []string // Options.ServerHosts, lower case

	kick chan struct{}

	acctMu sync.Mutex
	acct   *acme.Client // the registered account, once an order needed it

	mu       sync.Mutex
	inflight map[string]bool // hosts with an order running
	// on-demand hosts (ondemand.go): being asked about, and refused until
	asking map[string]bool
	denied map[string]time.Time

	// life ends when Run does: Want gives up then
	life    context.Context
	endLife context.CancelFunc
	// approvals asks the routes' tls.onDemand URLs
	approvals *http.Client

	// files are the states of the files of the file hosts, by host: only Run's
	// goroutine uses them.
	files map[string]fileState
}

// New checks o and returns a Manager; nothing is contacted before Run.
func New(o Options) (*Manager, error) {
	if o.Store == nil {
		return nil, errors.New("certs: Options.Store is required")
	}
	if o.Directory == "" {
		o.Directory = LetsEncrypt
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if len(o.Challenges) == 0 {
		o.Challenges = []string{HTTP01, TLSALPN01}
	}
	for _, c := range o.Challenges {
		if c != HTTP01 && c != TLSALPN01 {
			return nil, fmt.Errorf("certs: challenge %q: tend answers %s and %s", c, HTTP01, TLSALPN01)
		}
	}
	var server []string
	for _, h := range o.ServerHosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "" || isWildcard(h) {
			return nil, fmt.Errorf("certs: server host %q: give a DNS name (no wildcard)", h)
		}
		server = append(server, h)
	}
	tr, err := newTransport(o.CAFile)
	if err != nil {
		return nil, err
	}
	life, endLife := context.WithCancel(context.Background())
	return &Manager{
		life:       life,
		endLife:    endLife,
		approvals:  &http.Client{Transport: tr},
		asking:     map[string]bool{},
		denied:     map[string]time.Time{},
		dir:        o.Directory,
		email:      o.Email,
		store:      o.Store,
		solver:     o.Solver,
		log:        o.Logger,
		challenges: slices.Clone(o.Challenges),
		server:     server,
		transport:  tr,
		kick:       make(chan struct{}, 1),
		inflight:   map[string]bool{},
		files:      map[string]fileState{},
	}, nil
}

// Kick makes Run check the routes and certificates now (after a deploy).
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run keeps the certificate records until ctx ends: it follows the routes and records,
// orders and renews the certificates of tls.auto hosts, reloads changed files, and
// deletes the records of hosts no route claims. It returns once every order it started
// has ended.
func (m *Manager) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		m.endLife()
		wg.Wait()
		m.transport.CloseIdleConnections()
	}()
	wg.Go(func() { m.follow(ctx) })
	m.Kick()
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-timer.C:
		}
		wait := m.check(ctx, &wg)
		timer.Reset(wait)
	}
}

// follow kicks Run at every change of the routes and records.
func (m *Manager) follow(ctx context.Context) {
	for {
		err := m.store.Follow(ctx, []string{store.RoutesPrefix, store.CertsPrefix}, func(int64, map[string][]byte) { m.Kick() })
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("certs: following the routes failed; reading them again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// want is what a route asks of a host's certificate.
type want struct {
	host, app string
	auto      bool
	certFile  string
	keyFile   string
	// onDemand: a host the route claims without listing it, approved by its tls.onDemand
	onDemand bool
}

// check does what the routes and records need now, and returns how long Run may wait
// before the next check.
func (m *Manager) check(ctx context.Context, wg *sync.WaitGroup) time.Duration {
	wait := maxWait
	// The hosts with an order running are taken before reading the records: an order
	// that ends after this has written its record, which the read below sees.
	m.mu.Lock()
	inflight := maps.Clone(m.inflight)
	m.mu.Unlock()

	routes, err := store.List[route.Route](ctx, m.store, store.RoutesPrefix)
	if err != nil {
		m.log.Error("certs: read the routes", "err", err)
		return 5 * time.Second
	}
	recs, err := m.records(ctx)
	if err != nil {
		m.log.Error("certs: read the certificates", "err", err)
		return 5 * time.Second
	}
	wants := m.wants(routes, recs)
	now := time.Now()
	hosts := make([]string, 0, len(wants))
	for h := range wants {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		w := wants[h]
		if inflight[h] {
			continue
		}
		rec, has := recs[h]
		if has && !rec.Unclaimed.IsZero() { // claimed again
			rec.Unclaimed = time.Time{}
			if err := m.store.Put(ctx, store.CertKey(h), rec); err != nil {
				m.log.Error("certs: write a certificate record", "host", h, "err", err)
			}
		}
		switch {
		case w.auto && isWildcard(h):
			m.wildcard(ctx, w, rec, has)
		case w.auto:
			// Not due yet: renewal two thirds into its life, or the backoff after a failure.
			// another CA's certificate (--acme-directory changed) is replaced now; it is
			// served until then
			if has && rec.Source == store.CertFromACME && now.Before(rec.RenewAt) && (rec.Directory == "" || rec.Directory == m.dir) {
				wait = min(wait, rec.RenewAt.Sub(now))
				if rec.App != w.app || rec.OnDemand != w.onDemand { // the host moved to another app
					rec.App, rec.OnDemand = w.app, w.onDemand
					if err := m.store.Put(ctx, store.CertKey(h), rec); err != nil {
						m.log.Error("certs: write a certificate record", "host", h, "err", err)
					}
				}
				continue
			}
			// When maxOrders run, the kick at the end of one checks again.
			m.start(ctx, wg, w, rec, has)
		default:
			m.syncFiles(ctx, w, rec, has)
			wait = min(wait, pollInterval)
		}
	}
	for h, rec := range recs {
		if _, ok := wants[h]; ok || inflight[h] {
			continue
		}
		if rec.Unclaimed.IsZero() && unclaimedFor > 0 {
			rec.Unclaimed = now
			if err := m.store.Put(ctx, store.CertKey(h), rec); err != nil {
				m.log.Error("certs: mark the certificate of a host no route has", "host", h, "err", err)
			} else {
				m.log.Info("certs: no route claims this host any more; its certificate is kept a week, unserved, in case one does again", "host", h)
			}
			continue
		}
		if left := rec.Unclaimed.Add(unclaimedFor).Sub(now); left > 0 {
			wait = min(wait, left)
			continue
		}
		if err := m.store.Delete(ctx, store.CertKey(h)); err != nil {
			m.log.Error("certs: delete the certificate of a host no route has", "host", h, "err", err)
			continue
		}
		delete(m.files, h)
		m.log.Info("certs: deleted the certificate of a host no route has", "host", h)
	}
	for h := range m.files {
		if w, ok := wants[h]; !ok || w.auto {
			delete(m.files, h)
		}
	}
	return max(wait, 100*time.Millisecond)
}

// wants is the certificate each server host needs, each host of a route with TLS, and
// each on-demand host whose record a route of its app with tls.onDemand still claims.
// A host of two routes takes the first route's TLS (in key order); a server host's
// stays the server's. The wildcard hosts of a route with tls.onDemand are patterns of
// names, not names to order.
func (m *Manager) wants(routes []route.Route, recs map[string]store.Certificate) map[string]want {
	wants := map[string]want{}
	for _, h := range m.server {
		wants[h] = want{host: h, app: ServerApp, auto: true}
	}
	for _, r := range routes {
		if r.TLS == nil || (!r.TLS.Auto && r.TLS.CertFile == "" && r.TLS.KeyFile == "") {
			continue
		}
		for _, h := range r.Hosts {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			if h == "" || (r.TLS.OnDemand != "" && r.TLS.Auto && isWildcard(h)) {
				continue
			}
			if _, ok := wants[h]; ok {
				continue
			}
			wants[h] = want{host: h, app: r.App, auto: r.TLS.Auto, certFile: r.TLS.CertFile, keyFile: r.TLS.KeyFile}
		}
	}
	var cl *claims
	for h, rec := range recs {
		if !rec.OnDemand || rec.Source != store.CertFromACME {
			continue
		}
		if _, ok := wants[h]; ok {
			continue
		}
		if cl == nil {
			cl = newClaims(routes)
		}
		if r := cl.onDemand(h); r != nil && r.App == rec.App {
			wants[h] = want{host: h, app: r.App, auto: true, onDemand: true}
		}
	}
	return wants
}

// records reads the certificate records by host.
func (m *Manager) records(ctx context.Context) (map[string]store.Certificate, error) {
	list, err := store.List[store.Certificate](ctx, m.store, store.CertsPrefix)
	if err != nil {
		return nil, err
	}
	recs := make(map[string]store.Certificate, len(list))
	for _, c := range list {
		recs[c.Host] = c
	}
	return recs, nil
}

// wildcard records that a wildcard host of a route with tls.auto gets no certificate.
func (m *Manager) wildcard(ctx context.Context, w want, rec store.Certificate, has bool) {
	if has && rec.Source == store.CertFromACME && rec.LastError == wildcardError && rec.App == w.app && rec.CertPEM == "" {
		return
	}
	now := time.Now()
	rec = store.Certificate{Host: w.host, App: w.app, Source: store.CertFromACME,
		LastError: wildcardError, LastErrorAt: now, Failures: 1}
	if err := m.store.Put(ctx, store.CertKey(w.host), rec); err != nil {
		m.log.Error("certs: write a certificate record", "host", w.host, "err", err)
		return
	}
	m.log.Error("certs: no certificate for a wildcard host", "host", w.host, "err", wildcardError)
}

// start begins an order for w.host unless maxOrders are running; it reports whether it
// started one.
func (m *Manager) start(ctx context.Context, wg *sync.WaitGroup, w want, rec store.Certificate, has bool) bool {
	m.mu.Lock()
	if m.inflight[w.host] || len(m.inflight) >= maxOrders {
		m.mu.Unlock()
		return false
	}
	m.inflight[w.host] = true
	m.mu.Unlock()
	failures := 0
	if has && rec.Source == store.CertFromACME {
		failures = rec.Failures
	}
	kind := m.challenges[failures%len(m.challenges)]
	wg.Go(func() {
		defer func() {
			m.mu.Lock()
			delete(m.inflight, w.host)
			m.mu.Unlock()
			m.Kick()
		}()
		m.renew(ctx, w, kind)
	})
	return true
}

// renew orders a certificate for w.host and writes the outcome to its record.
func (m *Manager) renew(ctx context.Context, w want, kind string) {
	m.log.Info("certs: ordering a certificate", "host", w.host, "directory", m.dir, "challenge", kind)
	octx, cancel := context.WithTimeout(ctx, orderTimeout)
	cert, err := m.obtain(octx, w.host, kind)
	cancel()
	if ctx.Err() != nil {
		return // stopping: not a failure of the CA's
	}
	var rec store.Certificate
	if gerr := m.store.Get(ctx, store.CertKey(w.host), &rec); gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
		m.log.Error("certs: read a certificate record", "host", w.host, "err", gerr)
		return
	}
	now := time.Now()
	if err == nil {
		rec = store.Certificate{
			Host: w.host, App: w.app, Source: store.CertFromACME, OnDemand: w.onDemand,
			CertPEM: string(cert.chainPEM), KeyPEM: string(cert.keyPEM),
			Issuer: cert.leaf.Issuer.CommonName, NotBefore: cert.leaf.NotBefore, NotAfter: cert.leaf.NotAfter,
			Obtained: now, RenewAt: renewAt(cert.leaf.NotBefore, cert.leaf.NotAfter), Directory: m.dir,
		}
		m.log.Info("certs: obtained a certificate", "host", w.host, "issuer", rec.Issuer,
			"notAfter", rec.NotAfter, "renewAt", rec.RenewAt)
	} else {
		m.log.Error("certs: could not obtain a certificate", "host", w.host,
			"err", fmt.Errorf("obtain a certificate for %s from %s: %w", w.host, m.dir, err))
		// The certificate it has, if any, goes on being served until it expires.
		rec.Host, rec.App, rec.Source, rec.OnDemand = w.host, w.app, store.CertFromACME, w.onDemand
		rec.CertFile, rec.KeyFile = "", ""
		rec.LastError, rec.LastErrorAt = err.Error(), now
		rec.Failures++
		rec.RenewAt = retryAt(now, rec.Failures, rec.CertPEM != "", rec.NotAfter)
	}
	if perr := m.store.Put(ctx, store.CertKey(w.host), rec); perr != nil {
		m.log.Error("certs: write a certificate record", "host", w.host, "err", perr)
	}
}

// renewAt is two thirds into a certificate's lifetime.
func renewAt(notBefore, notAfter time.Time) time.Time {
	return notBefore.Add(notAfter.Sub(notBefore) * 2 / 3)
}

// retryAt is when to order again after the failures-th failure in a row: a backoff
// from backoffBase doubling up to backoffMax, but no later than an hour before the
// certificate it has expires (and no sooner than backoffBase).
func retryAt(now time.Time, failures int, hasCert bool, notAfter time.Time) time.Time {
	d := backoffBase
	for i := 1; i < failures && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	at := now.Add(d)
	if hasCert {
		if last := notAfter.Add(-time.Hour); at.After(last) {
			at = last
		}
		if first := now.Add(backoffBase); at.Before(first) {
			at = first
		}
	}
	return at
}

// Certificates returns every certificate record, sorted by host, without the
// certificates and keys themselves (for tend certs).
func (m *Manager) Certificates(ctx context.Context) ([]store.Certificate, error) {
	list, err := store.List[store.Certificate](ctx, m.store, store.CertsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list the certificates: %w", err)
	}
	for i := range list {
		list[i].CertPEM, list[i].KeyPEM = "", ""
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Host < list[j].Host })
	return list, nil
}

func isWildcard(host string) bool { return strings.Contains(host, "*") }
