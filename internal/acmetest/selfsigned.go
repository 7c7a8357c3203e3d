package acmetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// Cert says what SelfSigned makes: a certificate for Hosts (the first is its common
// name), valid from NotBefore to NotAfter (zero: an hour either side of now), with
// Serial (0: a random one).
type Cert struct {
	Hosts               []string
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

// SelfSigned makes a certificate for tests that serve or load one without a CA.
func SelfSigned(t testing.TB, c Cert) Pair {
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
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: c.Hosts[0]}, DNSNames: c.Hosts,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
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
