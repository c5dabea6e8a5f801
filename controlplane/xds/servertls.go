package xds

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"
)

// ServerTLSConfig is the mutual TLS of the xDS gRPC server itself: the ADS streams carry every
// API key hash, the routes, the quotas and the edge listener's private key (SDS), so only
// authenticated edges may open one, and edges only accept a control plane their CA signed.
// It is not the edge listener's certificate (Config.CertFile and KeyFile, served over SDS).
//
// The server presents CertFile/KeyFile, requires a client certificate and verifies it against
// ClientCAFile (TLS 1.2 or 1.3; 1.3 whenever the client offers it). A client without a valid
// certificate fails the handshake and never reaches the ADS service: it gets no resource. The
// three files are polled every Config.CertPollInterval; a changed, valid set is used from the
// next handshake on (open connections keep their session until they reconnect), an invalid one
// is logged and counted (ingest_controlplane_xds_server_tls_reloads_total{result="error"}) and
// the previous set stays. Rotating the server certificate or the client CA needs no restart.
type ServerTLSConfig struct {
	// CertFile and KeyFile are the PEM certificate chain and private key the xDS server
	// presents. Its SANs must hold the name the edges verify (the host of edge.xds_address or
	// edge.xds_server_name; for Envoy the bootstrap's xds_cluster SAN matcher). Required
	// unless Insecure.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile is a PEM bundle of the CAs that sign the edges' client certificates; during
	// a CA rotation it holds the old and the new CA. Required unless Insecure.
	ClientCAFile string `yaml:"client_ca_file"`
	// AllowedClientNames, when set, pins the client identities: a certificate signed by the
	// CA is accepted only if one of its DNS or URI SANs, or its subject common name, equals
	// one of these names. Empty (the default): every client certificate the CA signed.
	AllowedClientNames []string `yaml:"allowed_client_names"`
	// Insecure serves xDS over plaintext gRPC without authenticating anyone, for a control
	// plane whose only edge is a sidecar on the same host. It requires a loopback
	// xds.listen_address, excludes the files above and is logged as a warning at every start.
	// Default false.
	Insecure bool `yaml:"insecure"`
}

// validate adds the problems of c to add.
func (c ServerTLSConfig) validate(listenAddress string, add func(string, ...any)) {
	if c.Insecure {
		if c.CertFile != "" || c.KeyFile != "" || c.ClientCAFile != "" || len(c.AllowedClientNames) > 0 {
			add("xds.server_tls.insecure excludes xds.server_tls.cert_file, key_file, client_ca_file and allowed_client_names: choose mutual TLS or plaintext")
		}
		if host, _, err := net.SplitHostPort(listenAddress); err == nil && !isLoopback(host) {
			add("xds.server_tls.insecure needs a loopback xds.listen_address, not %q: plaintext xDS hands every key hash and the edge's private key to whoever connects", listenAddress)
		}
		return
	}
	for _, f := range []struct{ key, v, what string }{
		{"cert_file", c.CertFile, "the PEM certificate chain the xDS server presents to the edges"},
		{"key_file", c.KeyFile, "the PEM private key of xds.server_tls.cert_file"},
		{"client_ca_file", c.ClientCAFile, "the PEM CA bundle that signs the edges' client certificates"},
	} {
		if f.v == "" {
			add("xds.server_tls.%s is required: %s (or set xds.server_tls.insecure for a loopback-only control plane)", f.key, f.what)
		}
	}
	for i, n := range c.AllowedClientNames {
		if n == "" {
			add("xds.server_tls.allowed_client_names[%d] is empty", i)
		}
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckFiles reads and parses the three files once, for a caller that wants to fail at
// startup; every error names the key of the file at fault. It returns nil when Insecure.
func (c ServerTLSConfig) CheckFiles() error {
	if c.Insecure {
		return nil
	}
	_, err := loadServerTLS(c)
	return err
}

// serverTLSState is one loaded set of the server's TLS files.
type serverTLSState struct {
	cert     tls.Certificate
	pool     *x509.CertPool
	notAfter time.Time
	raw      [3][]byte // cert, key, CA bundle as read
}

func loadServerTLS(c ServerTLSConfig) (*serverTLSState, error) {
	read := func(key, path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read xds.server_tls.%s %q: %w", key, path, err)
		}
		return b, nil
	}
	certPEM, err := read("cert_file", c.CertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := read("key_file", c.KeyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := read("client_ca_file", c.ClientCAFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("cannot use xds.server_tls.cert_file %q with xds.server_tls.key_file %q: %w", c.CertFile, c.KeyFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("cannot use xds.server_tls.client_ca_file %q: it holds no PEM certificate", c.ClientCAFile)
	}
	return &serverTLSState{cert: cert, pool: pool, notAfter: cert.Leaf.NotAfter, raw: [3][]byte{certPEM, keyPEM, caPEM}}, nil
}

// serverTLS serves the xDS server's TLS configuration from the current set of files. poll and
// load are called by one goroutine; handshakes read the current set concurrently.
type serverTLS struct {
	cfg   ServerTLSConfig
	stamp [3]fileStamp
	cur   atomic.Pointer[serverTLSState]
}

func (s *serverTLS) files() [3]string {
	return [3]string{s.cfg.CertFile, s.cfg.KeyFile, s.cfg.ClientCAFile}
}

// load loads the files unconditionally; the startup path.
func (s *serverTLS) load() error {
	var stamps [3]fileStamp
	for i, f := range s.files() {
		stamps[i], _ = stampOf(f)
	}
	st, err := loadServerTLS(s.cfg)
	if err != nil {
		return err
	}
	s.stamp = stamps
	s.cur.Store(st)
	return nil
}

// poll reports whether the files changed to a new valid set, which becomes current. A change
// to an invalid set (a certificate written before its key) returns the error and keeps the
// current set; the next change of any file is tried again.
func (s *serverTLS) poll() (changed bool, err error) {
	var stamps [3]fileStamp
	same := true
	for i, f := range s.files() {
		if stamps[i], err = stampOf(f); err != nil {
			return false, fmt.Errorf("cannot stat %q: %w", f, err)
		}
		same = same && stamps[i].equal(s.stamp[i])
	}
	if same {
		return false, nil
	}
	s.stamp = stamps
	st, err := loadServerTLS(s.cfg)
	if err != nil {
		return false, err
	}
	if old := s.cur.Load(); old != nil && slices.EqualFunc(old.raw[:], st.raw[:], bytes.Equal) {
		return false, nil
	}
	s.cur.Store(st)
	return true, nil
}

// current returns the loaded set; load must have succeeded.
func (s *serverTLS) current() *serverTLSState { return s.cur.Load() }

// tlsConfig returns the server configuration: each handshake takes the current set.
func (s *serverTLS) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := s.cur.Load()
			return &tls.Config{
				MinVersion:       tls.VersionTLS12,
				Certificates:     []tls.Certificate{st.cert},
				ClientAuth:       tls.RequireAndVerifyClientCert,
				ClientCAs:        st.pool,
				NextProtos:       []string{"h2"},
				VerifyConnection: s.verifyName,
			}, nil
		},
	}
}

// errClientNameNotAllowed is returned by a handshake whose verified client certificate names
// none of ServerTLSConfig.AllowedClientNames.
var errClientNameNotAllowed = errors.New("the client certificate names none of xds.server_tls.allowed_client_names")

// verifyName pins the client identity to AllowedClientNames (after chain verification).
func (s *serverTLS) verifyName(cs tls.ConnectionState) error {
	if len(s.cfg.AllowedClientNames) == 0 {
		return nil
	}
	if len(cs.PeerCertificates) == 0 {
		return errClientNameNotAllowed
	}
	leaf := cs.PeerCertificates[0]
	names := append([]string{leaf.Subject.CommonName}, leaf.DNSNames...)
	for _, u := range leaf.URIs {
		names = append(names, u.String())
	}
	for _, n := range names {
		if n != "" && slices.Contains(s.cfg.AllowedClientNames, n) {
			return nil
		}
	}
	return fmt.Errorf("%w (subject %q)", errClientNameNotAllowed, leaf.Subject.String())
}

// handshakeReason is the reason label of ingest_controlplane_xds_handshake_failures_total.
func handshakeReason(err error) string {
	var cve *tls.CertificateVerificationError
	switch {
	case errors.Is(err, errClientNameNotAllowed):
		return "client_name_not_allowed"
	case errors.As(err, &cve):
		return "client_certificate_rejected"
	}
	return "handshake" // no client certificate, plaintext, a protocol error, a port scanner
}

// observedCreds counts (and reports) failed server handshakes: the only trace an
// unauthenticated client leaves.
type observedCreds struct {
	credentials.TransportCredentials
	failed func(remote net.Addr, err error)
}

func (c observedCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		c.failed(raw.RemoteAddr(), err)
	}
	return conn, info, err
}

func (c observedCreds) Clone() credentials.TransportCredentials {
	return observedCreds{TransportCredentials: c.TransportCredentials.Clone(), failed: c.failed}
}

// logLimiter lets one log line through per interval and counts the ones it held back.
type logLimiter struct {
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many lines were held back since the last one.
func (l *logLimiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}
