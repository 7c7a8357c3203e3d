package gateway

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tendhq/tend/internal/store"
)

// acmeTLS1 is the ALPN protocol of ACME's tls-alpn-01 validation (RFC 8737).
const acmeTLS1 = "acme-tls/1"

// acmeChallengePath is where an ACME CA asks for http-01 answers (RFC 8555 8.3).
const acmeChallengePath = "/.well-known/acme-challenge/"

// certSet is what the HTTPS listener serves, replaced whole at every routing push.
type certSet struct {
	exact  map[string]*tls.Certificate // by host
	wild   map[string]*tls.Certificate // *.example.com by example.com
	alpn   map[string]*tls.Certificate // tls-alpn-01 challenge certificates by host
	tokens map[string]string           // http-01 key authorizations by token
	// parsed keeps each record's pair with the PEM it came from, so that the next push
	// parses only what changed (a push comes with every endpoint change and challenge)
	parsed map[string]parsedCert
}

type parsedCert struct {
	certPEM, keyPEM string
	pair            *tls.Certificate
}

// setTLS installs the certificates and challenges of a routing.
func (g *Gateway) setTLS(certs []store.Certificate, challenges []Challenge) {
	prev := g.certs.Load()
	s := &certSet{exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{},
		alpn: map[string]*tls.Certificate{}, tokens: map[string]string{}, parsed: map[string]parsedCert{}}
	for _, c := range certs {
		if c.CertPEM == "" {
			continue
		}
		pc, ok := parsedCert{}, false
		if prev != nil {
			pc, ok = prev.parsed[c.Host]
		}
		if !ok || pc.certPEM != c.CertPEM || pc.keyPEM != c.KeyPEM {
			kp, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
			if err != nil {
				g.log.Error("ignoring a certificate the gateway cannot use", "host", c.Host, "err", err)
				continue
			}
			pc = parsedCert{certPEM: c.CertPEM, keyPEM: c.KeyPEM, pair: &kp}
		}
		s.parsed[c.Host] = pc
		if rest, ok := strings.CutPrefix(c.Host, "*."); ok {
			s.wild[rest] = pc.pair
		} else {
			s.exact[c.Host] = pc.pair
		}
	}
	for _, ch := range challenges {
		switch ch.Kind {
		case "http-01":
			s.tokens[ch.Token] = ch.KeyAuth
		case "tls-alpn-01":
			kp, err := tls.X509KeyPair([]byte(ch.CertPEM), []byte(ch.KeyPEM))
			if err != nil {
				g.log.Error("ignoring a tls-alpn-01 challenge certificate", "host", ch.Host, "err", err)
				continue
			}
			s.alpn[ch.Host] = &kp
		}
	}
	g.installCerts(s)
}

// lookup is the certificate for name (lowercase): its own, or a wildcard's.
func (s *certSet) lookup(name string) *tls.Certificate {
	if c := s.exact[name]; c != nil {
		return c
	}
	if _, rest, ok := strings.Cut(name, "."); ok {
		if c := s.wild[rest]; c != nil {
			return c
		}
	}
	return nil
}

// TLSConfig is the HTTPS listener's configuration: the certificate is chosen by SNI
// among the routing's, and a name without one fails the handshake (no other app's
// certificate is ever shown), after waiting for its certificate when a route with
// tls.onDemand claims it; HTTP/2 and HTTP/1.1 by ALPN.
func (g *Gateway) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1", acmeTLS1},
		GetCertificate: g.certificate,
	}
}

var (
	errNoSNI  = errors.New("tend: the client sent no server name (SNI): HTTPS needs the app's host name")
	errNoCert = errors.New("tend: no certificate for this host")
)

func (g *Gateway) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := g.certs.Load()
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if slices.Contains(hello.SupportedProtos, acmeTLS1) {
		if c := s.alpn[name]; c != nil {
			return c, nil
		}
		g.metrics.handshakes.WithLabelValues("no_challenge").Inc()
		return nil, errNoCert
	}
	if name == "" {
		g.metrics.handshakes.WithLabelValues("no_sni").Inc()
		return nil, errNoSNI
	}
	if !sniName(name) {
		g.metrics.handshakes.WithLabelValues("unknown_host").Inc()
		return nil, errNoCert
	}
	if c := s.lookup(name); c != nil {
		return c, nil
	}
	if app, ok := g.table.Load().onDemandApp(name); ok {
		return g.awaitOnDemand(name, app, clientIP(hello)) // see ondemand.go
	}
	g.metrics.handshakes.WithLabelValues("unknown_host").Inc()
	return nil, errNoCert
}

// answerChallenge answers an ACME http-01 request whose token the gateway holds.
func (g *Gateway) answerChallenge(w http.ResponseWriter, r *http.Request) bool {
	token, ok := strings.CutPrefix(r.URL.Path, acmeChallengePath)
	if !ok {
		return false
	}
	auth, ok := g.certs.Load().tokens[token]
	if !ok {
		return false
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(auth))
	return true
}

// redirectHTTPS answers a plain request for an app served over HTTPS with 308 to the
// same URL on the HTTPS listener.
func (g *Gateway) redirectHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]") // [::1] without a port
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := g.o.HTTPSPort; p != 443 {
		host += ":" + strconv.Itoa(p)
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
}

// addHSTS gives an HTTPS answer the route's Strict-Transport-Security, unless the app
// sent its own (it knows its subdomains and preload list better than the route does).
func addHSTS(h http.Header, value string) {
	if value != "" && h.Get("Strict-Transport-Security") == "" {
		h.Set("Strict-Transport-Security", value)
	}
}

// sniName reports whether name (lowercase) is a host name a certificate can be for:
// dot-separated labels of letters, digits, '-' and '_', none empty or over 63 bytes.
func sniName(name string) bool {
	if len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
