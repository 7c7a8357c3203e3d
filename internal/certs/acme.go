package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/store"
)

// issued is a certificate the CA issued, with its new key.
type issued struct {
	chainPEM, keyPEM []byte
	leaf             *x509.Certificate
}

// newTransport is the HTTP transport to the CA: the system roots and those of caFile.
func newTransport(caFile string) (*http.Transport, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read the ACME server's CA file %s: %w", caFile, err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("the ACME server's CA file %s holds no PEM certificate", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 30 * time.Second
	tr.IdleConnTimeout = 30 * time.Second
	return tr, nil
}

// client returns the ACME client of tend's account at the directory, registering it
// the first time (with the key in the store when it is of this directory, or a new one).
func (m *Manager) client(ctx context.Context) (*acme.Client, error) {
	m.acctMu.Lock()
	defer m.acctMu.Unlock()
	if m.acct != nil {
		return m.acct, nil
	}
	var stored store.ACMEAccount
	err := m.store.Get(ctx, store.ACMEAccountKey, &stored)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read the ACME account: %w", err)
	}
	var key *ecdsa.PrivateKey
	if err == nil && stored.Directory == m.dir {
		if key, err = parseECKey([]byte(stored.KeyPEM)); err != nil {
			m.log.Warn("certs: the stored ACME account key is unusable; registering a new account", "directory", m.dir, "err", err)
			key = nil
		}
	}
	if key == nil {
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, fmt.Errorf("generate an ACME account key: %w", err)
		}
	}
	c := &acme.Client{
		Key:          key,
		DirectoryURL: m.dir,
		HTTPClient:   &http.Client{Transport: m.transport, Timeout: 30 * time.Second},
		UserAgent:    "tend",
	}
	var contact []string
	if m.email != "" {
		contact = []string{"mailto:" + m.email}
	}
	// Registering a key already registered finds its account: an account the CA lost
	// (or a store moved to another CA at the same address) is registered anew.
	acct, err := c.Register(ctx, &acme.Account{Contact: contact}, acme.AcceptTOS)
	if errors.Is(err, acme.ErrAccountAlreadyExists) {
		acct, err = c.GetReg(ctx, "")
		if err == nil && !slices.Equal(acct.Contact, contact) {
			if updated, uerr := c.UpdateReg(ctx, &acme.Account{URI: acct.URI, Contact: contact}); uerr != nil {
				m.log.Warn("certs: could not update the ACME account's contact", "directory", m.dir, "err", uerr)
			} else {
				acct = updated
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("register an ACME account: %w", readable(err))
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode the ACME account key: %w", err)
	}
	rec := store.ACMEAccount{Directory: m.dir, Email: m.email, URI: acct.URI,
		KeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))}
	if rec != stored {
		if err := m.store.Put(ctx, store.ACMEAccountKey, rec); err != nil {
			return nil, fmt.Errorf("save the ACME account: %w", err)
		}
		m.log.Info("certs: registered an ACME account", "directory", m.dir, "account", acct.URI)
	}
	m.acct = c
	return c, nil
}

// obtain orders a certificate for host, answering the challenge of kind (or another
// of the Manager's kinds when the CA does not offer it). Its errors read well in a
// record's LastError.
func (m *Manager) obtain(ctx context.Context, host, kind string) (*issued, error) {
	if m.solver == nil {
		return nil, errors.New("no solver to answer the CA's challenges (tend server has no gateway?)")
	}
	c, err := m.client(ctx)
	if err != nil {
		return nil, timedOut(ctx, err)
	}
	cert, err := m.order(ctx, c, host, kind)
	if err != nil {
		var pe *acme.Error
		if errors.As(err, &pe) && strings.HasSuffix(pe.ProblemType, ":accountDoesNotExist") {
			m.acctMu.Lock()
			m.acct = nil // registered again by the next order
			m.acctMu.Unlock()
		}
		return nil, timedOut(ctx, err)
	}
	return cert, nil
}

func (m *Manager) order(ctx context.Context, c *acme.Client, host, kind string) (*issued, error) {
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(host))
	if err != nil {
		return nil, fmt.Errorf("create an order: %w", readable(err))
	}
	for _, u := range o.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("read an authorization: %w", readable(err))
		}
		switch z.Status {
		case acme.StatusValid:
			continue
		case acme.StatusPending:
		default:
			return nil, fmt.Errorf("the CA's authorization for %s is %s", z.Identifier.Value, z.Status)
		}
		ch := m.pick(z.Challenges, kind)
		if ch == nil {
			var offered []string
			for _, ch := range z.Challenges {
				offered = append(offered, ch.Type)
			}
			return nil, fmt.Errorf("the CA offers the challenges %s for %s, none of which tend answers (%s)",
				strings.Join(offered, ", "), z.Identifier.Value, strings.Join(m.challenges, ", "))
		}
		if err := m.solve(ctx, c, z, ch); err != nil {
			return nil, err
		}
	}
	if o, err = c.WaitOrder(ctx, o.URI); err != nil {
		return nil, fmt.Errorf("wait for the order: %w", readable(err))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate a key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{host}}, key)
	if err != nil {
		return nil, fmt.Errorf("create the certificate request: %w", err)
	}
	// CreateCertFromOrder, not CreateOrderCert: after finalizing, the latter polls the
	// order at the finalize response's Location, which RFC 8555 does not require (Pebble
	// sends none); the former polls the order's own URL.
	der, _, err := c.CreateCertFromOrder(ctx, o, csr, true)
	if err != nil {
		return nil, fmt.Errorf("finalize the order: %w", readable(err))
	}
	return issuedCert(der, key, host)
}

// pick is the challenge of kind, or else the first of the Manager's kinds offered.
func (m *Manager) pick(chs []*acme.Challenge, kind string) *acme.Challenge {
	for _, k := range append([]string{kind}, m.challenges...) {
		for _, ch := range chs {
			if ch.Type == k {
				return ch
			}
		}
	}
	return nil
}

// solve has the gateway answer ch, tells the CA to validate it, and waits for the
// outcome; the gateway stops answering it in any case.
func (m *Manager) solve(ctx context.Context, c *acme.Client, z *acme.Authorization, ch *acme.Challenge) error {
	host := z.Identifier.Value
	gc := gateway.Challenge{Kind: ch.Type, Host: host, Token: ch.Token}
	switch ch.Type {
	case HTTP01:
		ka, err := c.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			return fmt.Errorf("compute the %s response: %w", ch.Type, err)
		}
		gc.KeyAuth = ka
	case TLSALPN01:
		cert, err := c.TLSALPN01ChallengeCert(ch.Token, host)
		if err != nil {
			return fmt.Errorf("create the %s certificate: %w", ch.Type, err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			return fmt.Errorf("encode the %s key: %w", ch.Type, err)
		}
		gc.CertPEM = string(encodeCerts(cert.Certificate))
		gc.KeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		m.solver.CleanUp(cctx, gc)
	}()
	if err := m.solver.Present(ctx, gc); err != nil {
		return fmt.Errorf("have the gateway answer the %s challenge: %w", ch.Type, err)
	}
	if _, err := c.Accept(ctx, ch); err != nil {
		return fmt.Errorf("accept the %s challenge: %w", ch.Type, readable(err))
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("the CA could not validate the %s challenge for %s: %w", ch.Type, host, readable(err))
	}
	return nil
}

// issuedCert checks the chain the CA issued for host against key.
func issuedCert(der [][]byte, key *ecdsa.PrivateKey, host string) (*issued, error) {
	if len(der) == 0 {
		return nil, errors.New("the CA returned no certificate")
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return nil, fmt.Errorf("parse the certificate the CA issued: %w", err)
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return nil, fmt.Errorf("the certificate the CA issued: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode the key: %w", err)
	}
	out := &issued{chainPEM: encodeCerts(der), keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), leaf: leaf}
	if _, err := tls.X509KeyPair(out.chainPEM, out.keyPEM); err != nil {
		return nil, fmt.Errorf("the certificate the CA issued does not match its key: %w", err)
	}
	return out, nil
}

func encodeCerts(der [][]byte) []byte {
	var b []byte
	for _, d := range der {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return b
}

func parseECKey(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		if ek, eerr := x509.ParseECPrivateKey(blk.Bytes); eerr == nil {
			return ek, nil
		}
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an ECDSA key", k)
	}
	return ek, nil
}

// problemError shows the CA's problem documents as their details (the type's last
// word in brackets), and unwraps to the acme error.
type problemError struct {
	msg string
	err error
}

func (e *problemError) Error() string { return e.msg }
func (e *problemError) Unwrap() error { return e.err }

// readable makes an error of the acme package read as the CA's problem details.
func readable(err error) error {
	var (
		ae *acme.AuthorizationError
		oe *acme.OrderError
		pe *acme.Error
	)
	var msg string
	switch {
	case errors.As(err, &ae):
		var parts []string
		for _, e := range ae.Errors {
			if errors.As(e, &pe) {
				parts = append(parts, problem(pe))
			} else {
				parts = append(parts, e.Error())
			}
		}
		if len(parts) == 0 {
			parts = append(parts, "the authorization is invalid")
		}
		msg = strings.Join(parts, "; ")
	case errors.As(err, &oe):
		msg = "the order is " + oe.Status
		if oe.Problem != nil {
			msg += ": " + problem(oe.Problem)
		}
	case errors.As(err, &pe):
		msg = problem(pe)
	default:
		return err
	}
	return &problemError{msg: msg, err: err}
}

func problem(e *acme.Error) string {
	s := e.Detail
	if s == "" {
		s = fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if t := e.ProblemType; t != "" {
		s += " (" + t[strings.LastIndex(t, ":")+1:] + ")"
	}
	for _, sp := range e.Subproblems {
		s += "; "
		if sp.Identifier != nil {
			s += sp.Identifier.Value + ": "
		}
		s += sp.Detail
	}
	return s
}

// timedOut says so when err comes from ctx's deadline.
func timedOut(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("the order did not finish within %s: %w", orderTimeout, err)
	}
	return err
}
