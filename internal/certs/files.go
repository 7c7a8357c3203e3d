package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// LoadPair reads a certificate chain (PEM, leaf first) and its private key from files,
// and checks that the key is the certificate's, that the leaf is valid now, and that it
// covers every host in hosts (as a TLS client checks a name, wildcards included; a
// wildcard host must be among the leaf's names). It returns the chain's and the key's
// PEM blocks alone. Its errors name the file and say what to do.
func LoadPair(certFile, keyFile string, hosts []string) (chainPEM, keyPEM []byte, leaf *x509.Certificate, err error) {
	certBytes, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the certificate file %s: %w (route.tls.cert must name a readable PEM file)", certFile, err)
	}
	keyBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the key file %s: %w (route.tls.key must name a readable PEM file)", keyFile, err)
	}
	var certs []*x509.Certificate
	for rest := certBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("certificate %d in %s: %w (the file must hold the PEM chain, leaf first)", len(certs)+1, certFile, err)
		}
		certs = append(certs, c)
		chainPEM = append(chainPEM, pem.EncodeToMemory(b)...)
	}
	if len(certs) == 0 {
		return nil, nil, nil, fmt.Errorf("%s holds no PEM certificate (route.tls.cert must be the PEM chain, leaf first)", certFile)
	}
	for rest := keyBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			keyPEM = pem.EncodeToMemory(b)
			break
		}
	}
	if keyPEM == nil {
		return nil, nil, nil, fmt.Errorf("%s holds no PEM private key (route.tls.key must be the certificate's key, PEM)", keyFile)
	}
	if _, err := tls.X509KeyPair(chainPEM, keyPEM); err != nil {
		return nil, nil, nil, fmt.Errorf("the key in %s is not the key of the certificate in %s: %w (give route.tls.key the key the certificate was issued for)", keyFile, certFile, err)
	}
	leaf = certs[0]
	now := time.Now()
	if now.After(leaf.NotAfter) {
		return nil, nil, nil, fmt.Errorf("the certificate in %s expired on %s (%s ago): renew it and replace the file, or use tls.auto",
			certFile, leaf.NotAfter.UTC().Format(time.RFC3339), now.Sub(leaf.NotAfter).Round(time.Second))
	}
	if now.Before(leaf.NotBefore) {
		return nil, nil, nil, fmt.Errorf("the certificate in %s is not valid before %s: check the clocks, or wait",
			certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	for _, h := range hosts {
		if !covers(leaf, h) {
			return nil, nil, nil, fmt.Errorf("the certificate in %s does not cover %s (it is for %s): give the route a certificate for each of its hosts",
				certFile, h, names(leaf))
		}
	}
	return chainPEM, keyPEM, leaf, nil
}

// covers reports whether leaf is good for host: a name a client would accept, or, for a
// wildcard host, the same wildcard.
func covers(leaf *x509.Certificate, host string) bool {
	if strings.Contains(host, "*") {
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, host) {
				return true
			}
		}
		return false
	}
	return leaf.VerifyHostname(host) == nil
}

func names(leaf *x509.Certificate) string {
	var ns []string
	ns = append(ns, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		ns = append(ns, ip.String())
	}
	if len(ns) == 0 {
		if leaf.Subject.CommonName != "" {
			return "no DNS name, only the common name " + leaf.Subject.CommonName
		}
		return "no name"
	}
	return strings.Join(ns, ", ")
}

// fileStamp identifies the contents of the two files by their paths, sizes and mtimes.
func fileStamp(certFile, keyFile string) string {
	var b strings.Builder
	for _, f := range []string{certFile, keyFile} {
		if fi, err := os.Stat(f); err != nil {
			fmt.Fprintf(&b, "%s: %v\n", f, err)
		} else {
			fmt.Fprintf(&b, "%s %d %d\n", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// fileState is what Run last saw of a file host's files.
type fileState struct {
	stamp string // fileStamp
	// bad: the files failed to load, and the failure is not recorded yet (badSince).
	bad      bool
	badSince time.Time
}

// syncFiles writes the record of a host served with the user's files, when they changed
// since it was written. New files that are bad leave the record's certificate as it was
// and set its LastError, once they have stayed so for half a poll (not to catch files
// half written).
func (m *Manager) syncFiles(ctx context.Context, w want, rec store.Certificate, has bool) {
	stamp := fileStamp(w.certFile, w.keyFile)
	same := has && rec.Source == store.CertFromFile && rec.App == w.app && rec.CertFile == w.certFile && rec.KeyFile == w.keyFile
	st := m.files[w.host]
	if same && st.stamp == stamp && !st.bad {
		return
	}
	now := time.Now()
	next := store.Certificate{Host: w.host, App: w.app, Source: store.CertFromFile, CertFile: w.certFile, KeyFile: w.keyFile}
	chain, key, leaf, err := LoadPair(w.certFile, w.keyFile, []string{w.host})
	if err != nil {
		if !st.bad || st.stamp != stamp {
			m.files[w.host] = fileState{stamp: stamp, bad: true, badSince: now}
			return
		}
		if now.Sub(st.badSince) < pollInterval/2 {
			return
		}
		m.files[w.host] = fileState{stamp: stamp}
		if same && rec.LastError == err.Error() {
			return // already recorded
		}
		if has && rec.Source == store.CertFromFile && rec.CertPEM != "" {
			next.CertPEM, next.KeyPEM, next.Issuer = rec.CertPEM, rec.KeyPEM, rec.Issuer
			next.NotBefore, next.NotAfter, next.Obtained = rec.NotBefore, rec.NotAfter, rec.Obtained
		}
		next.LastError, next.LastErrorAt = err.Error(), now
		next.Failures = 1
		if has && rec.Source == store.CertFromFile {
			next.Failures = rec.Failures + 1
		}
		m.log.Error("certs: could not load the route's certificate files", "host", w.host, "err", err)
	} else {
		m.files[w.host] = fileState{stamp: stamp}
		next.CertPEM, next.KeyPEM = string(chain), string(key)
		next.Issuer, next.NotBefore, next.NotAfter = leaf.Issuer.CommonName, leaf.NotBefore, leaf.NotAfter
		next.Obtained = now
		if same && rec.CertPEM == next.CertPEM && rec.KeyPEM == next.KeyPEM && rec.LastError == "" {
			return // touched, not changed
		}
		m.log.Info("certs: loaded the route's certificate files", "host", w.host, "cert", w.certFile,
			"issuer", next.Issuer, "notAfter", next.NotAfter)
	}
	if err := m.store.Put(ctx, store.CertKey(w.host), next); err != nil {
		m.log.Error("certs: write a certificate record", "host", w.host, "err", err)
		delete(m.files, w.host) // again at the next check
	}
}
