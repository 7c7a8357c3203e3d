package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// The API serves HTTPS with the certificate of --api-tls-cert and --api-tls-key. The
// TLS layer goes on the TCP listener where the API serves, never on s.apiLn itself: a
// hand-over passes the raw listening socket to the successor, which loads the
// certificate and wraps the socket it inherited in its turn.

// apiCertRecheck is how often, at most, a handshake looks whether the certificate
// files changed.
const apiCertRecheck = 5 * time.Second

// apiTLSConfig is the API's TLS configuration when cfg gives it a certificate (nil for
// plain HTTP, with a warning when addr is not a loopback address: the token would cross
// the network in clear text). With APITLSAuto, the certificate comes from the store:
// stored is what the server gives the store to once it is open.
func apiTLSConfig(cfg Config, addr net.Addr, log *slog.Logger) (_ *tls.Config, stored *storedAPICert, _ error) {
	switch {
	case cfg.APITLSCert == APITLSAuto:
		if cfg.APITLSKey != "" {
			return nil, nil, &ConfigError{errors.New("--api-tls-cert auto takes no --api-tls-key: the key is made with the certificate")}
		}
		if err := checkAPIHost(cfg.APIHost); err != nil {
			return nil, nil, &ConfigError{err}
		}
		stored = &storedAPICert{host: serverHosts(cfg)[0], recheck: apiCertRecheck, log: log.With("component", "api")}
		log.Info("the API serves HTTPS with a certificate from the ACME CA", "host", stored.host, "directory", cfg.ACMEDirectory)
		return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: stored.get, NextProtos: []string{"h2", "http/1.1"}}, stored, nil
	case cfg.APIHost != "" && cfg.APITLSCert == "":
		return nil, nil, &ConfigError{fmt.Errorf("--api-host %s goes with --api-tls-cert auto (a certificate ordered for it) or with --api-tls-cert FILE --api-tls-key FILE", cfg.APIHost)}
	case cfg.APITLSCert == "" && cfg.APITLSKey == "":
		if !isLoopback(addr) {
			log.Warn("the API serves plain HTTP on an address that is not loopback: the API token crosses the network in clear text; "+
				"give the server a certificate with --api-tls-cert FILE --api-tls-key FILE, or bind --api to 127.0.0.1", "api", addr.String())
		}
		return nil, nil, nil
	case cfg.APITLSCert == "" || cfg.APITLSKey == "":
		return nil, nil, &ConfigError{errors.New("--api-tls-cert and --api-tls-key go together: give both (the PEM certificate chain and its private key) or neither")}
	}
	c := &apiCert{certFile: cfg.APITLSCert, keyFile: cfg.APITLSKey, recheck: apiCertRecheck, log: log.With("component", "api")}
	cert, err := loadAPICert(c.certFile, c.keyFile)
	var invalid *notValidNowError
	switch {
	case errors.As(err, &invalid):
		// the server starts all the same: it serves its apps, and the new files are
		// picked up at a handshake once they are replaced
		log.Error("the API serves a certificate clients refuse: "+err.Error(), "cert", c.certFile)
	case err != nil:
		return nil, nil, &ConfigError{err}
	}
	c.cert, c.stamp, c.checked = cert, filesStamp(c.certFile, c.keyFile), time.Now()
	log.Info("the API serves HTTPS", "cert", c.certFile, "names", certNames(cert), "notAfter", cert.Leaf.NotAfter)
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get, NextProtos: []string{"h2", "http/1.1"}}, nil, nil
}

// apiCert serves the certificate of two files, loaded again at a handshake once they
// changed; new files that do not load leave the previous certificate in service.
type apiCert struct {
	certFile, keyFile string
	recheck           time.Duration
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string    // filesStamp of what cert was loaded from, or of files that failed
	checked time.Time // when the files were last looked at
}

func (c *apiCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < c.recheck {
		return c.cert, nil
	}
	c.checked = time.Now()
	stamp := filesStamp(c.certFile, c.keyFile)
	if stamp == c.stamp {
		return c.cert, nil
	}
	c.stamp = stamp // a failure is logged once per change of the files
	cert, err := loadAPICert(c.certFile, c.keyFile)
	if err != nil {
		c.log.Error("the API's certificate files changed but do not load: the API keeps serving the previous certificate", "err", err)
		return c.cert, nil
	}
	c.cert = cert
	c.log.Info("the API's certificate files changed: serving the new certificate", "cert", c.certFile, "names", certNames(cert), "notAfter", cert.Leaf.NotAfter)
	return c.cert, nil
}

// loadAPICert reads the API's certificate chain and key; its errors name the file and
// the flag, and say what to do. A certificate outside its validity comes with a
// *notValidNowError.
func loadAPICert(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read the API certificate %s: %w (--api-tls-cert must name a readable PEM file: the certificate chain, leaf first)", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read the API key %s: %w (--api-tls-key must name a readable PEM file: the certificate's private key)", keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("the API certificate %s and key %s do not load: %w (--api-tls-cert takes the PEM chain, leaf first; --api-tls-key the PEM private key it was issued for)", certFile, keyFile, err)
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		return &cert, &notValidNowError{fmt.Sprintf("the API certificate in %s expired on %s: renew it and replace the file (the API picks it up)", certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))}
	} else if now.Before(cert.Leaf.NotBefore) {
		return &cert, &notValidNowError{fmt.Sprintf("the API certificate in %s is not valid before %s: check the clock, or wait", certFile, cert.Leaf.NotBefore.UTC().Format(time.RFC3339))}
	}
	return &cert, nil
}

// notValidNowError is a certificate that loads but is expired or not valid yet.
type notValidNowError struct{ msg string }

func (e *notValidNowError) Error() string { return e.msg }

// filesStamp identifies the contents of files by their sizes and modification times.
func filesStamp(files ...string) string {
	var b strings.Builder
	for _, f := range files {
		if st, err := os.Stat(f); err != nil {
			fmt.Fprintf(&b, "%s: %v\n", f, err)
		} else {
			fmt.Fprintf(&b, "%s %d %d\n", f, st.Size(), st.ModTime().UnixNano())
		}
	}
	return b.String()
}

// certNames are the names a certificate is for.
func certNames(c *tls.Certificate) []string {
	names := append([]string(nil), c.Leaf.DNSNames...)
	for _, ip := range c.Leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// apiListener is what the API serves on: the TCP listener, in TLS when the API has a
// certificate.
func (s *server) apiListener() net.Listener {
	if s.apiTLS == nil {
		return s.apiLn
	}
	return tls.NewListener(s.apiLn, s.apiTLS)
}

// apiURL is the API's URL: https:// with a certificate, else http://.
func (s *server) apiURL() string {
	if s.apiTLS != nil {
		return "https://" + s.apiLn.Addr().String()
	}
	return "http://" + s.apiLn.Addr().String()
}
