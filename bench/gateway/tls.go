package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// Protocols the bench measures (-proto).
const (
	protoHTTP1      = "http1"      // plain HTTP/1.1, keep-alive (wrk)
	protoHTTPS      = "https"      // HTTP/1.1 over TLS, keep-alive (wrk)
	protoHandshakes = "handshakes" // a new TLS connection (ECDSA P-256, full handshake) per request (wrk, Connection: close)
	protoH2         = "h2"         // HTTP/2 over TLS, 10 streams per connection (h2load)
	protoGRPC       = "grpc"       // gRPC unary calls over TLS to a gRPC server (h2load)
)

// grpcPath is the greeter's method; grpcRequestFile (written by run) its request:
// a gRPC message frame (uncompressed, 6 bytes) of HelloRequest{name: "tend"}.
const grpcPath = "/helloworld.Greeter/SayHello"

var (
	grpcRequestFile string
	grpcRequest     = []byte{0, 0, 0, 0, 6, 0x0a, 4, 't', 'e', 'n', 'd'}
)

// tlsHost is the name every TLS target serves: it resolves to 127.0.0.1 without DNS.
const tlsHost = "localhost"

// tlsFiles are the certificate every TLS target serves, made for the run.
type tlsFiles struct{ cert, key, bundle string }

// makeCert writes a self-signed ECDSA P-256 certificate for tlsHost into dir: cert.pem,
// key.pem, and bundle.pem (both, as haproxy takes them).
func makeCert(dir string) (tlsFiles, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tlsFiles{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: tlsHost}, DNSNames: []string{tlsHost},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tlsFiles{}, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tlsFiles{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
	f := tlsFiles{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"), bundle: filepath.Join(dir, "bundle.pem")}
	for path, b := range map[string][]byte{f.cert: certPEM, f.key: keyPEM, f.bundle: append(append([]byte{}, certPEM...), keyPEM...)} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return tlsFiles{}, err
		}
	}
	return f, nil
}

var (
	h2RPSRE  = regexp.MustCompile(`finished in [^,]+, ([\d.]+) req/s`)
	h2TimeRE = regexp.MustCompile(`time for request:\s+(\S+)\s+(\S+)\s+(\S+)`)
	h2DoneRE = regexp.MustCompile(`requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored`)
)

// h2load measures HTTP/2 over TLS at addr: conns connections with 10 streams each. It
// reports no percentiles, only min, max and mean request times: the mean goes in p50.
func h2load(addr string, d time.Duration, conns int, path string, extra ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	_, port, _ := net.SplitHostPort(addr)
	args := append([]string{"-c", strconv.Itoa(conns), "-m", "10", "-t", "2", "-D", strconv.Itoa(int(d.Seconds()))}, extra...)
	out, err := exec.CommandContext(ctx, "h2load", append(args, "https://"+tlsHost+":"+port+path)...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("h2load: %w\n%s", err, out)
	}
	m := h2DoneRE.FindSubmatch(out)
	if m == nil || string(m[3]) != "0" || string(m[4]) != "0" {
		return result{}, fmt.Errorf("h2load: failed requests during the run:\n%s", out)
	}
	var r result
	if m := h2RPSRE.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := h2TimeRE.FindSubmatch(out); m != nil {
		r.p50, _ = time.ParseDuration(string(bytes.TrimSpace(m[3])))
		r.p99, _ = time.ParseDuration(string(bytes.TrimSpace(m[2]))) // the max
	}
	return r, nil
}
