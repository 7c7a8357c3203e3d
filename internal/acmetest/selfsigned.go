package acmetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// Cert says what SelfSigned or Pair.Sign makes: a certificate for Hosts and IPs (the
// first host, else the first IP, is its common name), valid from NotBefore to NotAfter
// (zero: an hour either side of now), with Serial (0: a random one).
type Cert struct {
	Hosts               []string
	IPs                 []net.IP
	NotBefore, NotAfter time.Time
	Serial              int64
}

// Pair is a self-signed certificate and its ECDSA P-256 key, as PEM.
type Pair struct {
	CertPEM, KeyPEM string
	Leaf            *x509.Certificate
}

// Roots is a pool that trusts the certificate.
func (p Pair) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Leaf)
	return pool
}

// SelfSigned makes a certificate for tests that serve or load one without a CA; it can
// sign others (Sign), as a test CA.
func SelfSigned(t testing.TB, c Cert) Pair {
	t.Helper()
	return issue(t, c, nil, nil)
}

// Sign makes a certificate for c signed by p (a SelfSigned one), which a client that
// trusts p.Roots() verifies.
func (p Pair) Sign(t testing.TB, c Cert) Pair {
	t.Helper()
	blk, _ := pem.Decode([]byte(p.KeyPEM))
	if blk == nil {
		t.Fatal("acmetest: the CA's key is not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return issue(t, c, p.Leaf, key.(*ecdsa.PrivateKey))
}

// issue makes c's certificate, signed by parent's key (nil: self-signed, a CA).
func issue(t testing.TB, c Cert, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) Pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if c.NotBefore.IsZero() {
		c.NotBefore = time.Now().Add(-time.Hour)
	}
	if c.NotAfter.IsZero() {
		c.NotAfter = time.Now().Add(time.Hour)
	}
	serial := big.NewInt(c.Serial)
	if c.Serial == 0 {
		if serial, err = rand.Int(rand.Reader, big.NewInt(1<<62)); err != nil {
			t.Fatal(err)
		}
	}
	var name string
	switch {
	case len(c.Hosts) > 0:
		name = c.Hosts[0]
	case len(c.IPs) > 0:
		name = c.IPs[0].String()
	default:
		t.Fatal("acmetest: a certificate needs a host or an IP")
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: c.Hosts, IPAddresses: c.IPs,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if parent == nil {
		parent, parentKey = tmpl, key
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return Pair{CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})), Leaf: leaf}
}
