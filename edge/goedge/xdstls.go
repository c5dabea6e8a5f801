package goedge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// xdsCredentials returns the transport credentials of the ADS client: mutual TLS with the
// control plane (the client certificate read at every handshake, the server verified against
// Config.XDSCAFile and the server name), or plaintext with Config.XDSInsecure. The files are
// read once here so that a missing or bad file fails the startup, naming its key.
func xdsCredentials(cfg Config, m *metrics, log *slog.Logger) (credentials.TransportCredentials, error) {
	if cfg.XDSInsecure {
		return insecure.NewCredentials(), nil
	}
	caPEM, err := os.ReadFile(cfg.XDSCAFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read edge.xds_ca_file %q: %w", cfg.XDSCAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("cannot use edge.xds_ca_file %q: it holds no PEM certificate", cfg.XDSCAFile)
	}
	cc := &clientCert{certFile: cfg.XDSCertFile, keyFile: cfg.XDSKeyFile, log: log}
	if _, err := cc.load(); err != nil {
		return nil, err
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
		ServerName: cfg.xdsServerName(),
		// Presented whatever CAs the server names, as Envoy does: a mismatch then shows in
		// the control plane's log and metrics, not as a silent missing certificate.
		GetClientCertificate: cc.get,
	}
	return &observedClientCreds{TransportCredentials: credentials.NewTLS(tc), cfg: cfg, m: m, log: log, last: &lastError{}}, nil
}

// xdsServerName is the name the xDS server's certificate must carry.
func (c Config) xdsServerName() string {
	if c.XDSServerName != "" {
		return c.XDSServerName
	}
	host, _, _ := net.SplitHostPort(c.XDSAddress) // Validate checked it
	return host
}

// clientCert reads the edge's client certificate at every handshake (a handful per
// reconnect), so that a rotated pair is used from the next connection on. A pair that does not
// load (half written) is logged and the last good one presented.
type clientCert struct {
	certFile, keyFile string
	log               *slog.Logger

	mu   sync.Mutex
	good *tls.Certificate
}

func (c *clientCert) load() (*tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot load edge.xds_cert_file %q with edge.xds_key_file %q: %w", c.certFile, c.keyFile, err)
	}
	c.mu.Lock()
	c.good = &pair
	c.mu.Unlock()
	return &pair, nil
}

func (c *clientCert) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	pair, err := c.load()
	if err == nil {
		return pair, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log.Error("xDS client certificate not reloaded; presenting the last good one", "err", err)
	return c.good, nil
}

// Reasons of ingest_edge_xds_handshake_failures_total.
const (
	// reasonServerCertificate: the xDS server's certificate does not chain to
	// edge.xds_ca_file, does not name the server name, or expired. Nothing from it is applied.
	reasonServerCertificate = "server_certificate_rejected"
	// reasonRefused: the control plane refused the handshake (an alert during it).
	reasonRefused = "refused_by_server"
	// reasonHandshake: anything else (a plaintext server, a network error mid-handshake).
	reasonHandshake = "handshake"
)

func xdsHandshakeReason(err error) string {
	var cve *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	case errors.As(err, &cve):
		return reasonServerCertificate
	case errors.As(err, &alert):
		return reasonRefused
	}
	return reasonHandshake
}

// observedClientCreds counts and logs failed handshakes with the control plane: the edge then
// has no stream, so it applies nothing, and keeps serving its last configuration.
type observedClientCreds struct {
	credentials.TransportCredentials
	cfg  Config
	m    *metrics
	log  *slog.Logger
	last *lastError
}

func (c *observedClientCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil && ctx.Err() == nil {
		reason := xdsHandshakeReason(err)
		c.m.xdsHandshakeFailures.WithLabelValues(reason).Inc()
		msg := "xDS handshake with the control plane failed; no configuration is taken from it"
		if reason == reasonServerCertificate {
			msg = "xDS server certificate rejected: it is not signed by edge.xds_ca_file for edge.xds_server_name; no configuration is taken from this server"
		}
		level := slog.LevelError
		if !c.last.changed(err.Error()) { // the same failure again after a reconnect
			level = slog.LevelDebug
		}
		c.log.Log(ctx, level, msg, "xds", c.cfg.XDSAddress, "server_name", c.cfg.xdsServerName(),
			"ca_file", c.cfg.XDSCAFile, "reason", reason, "err", err)
	} else if err == nil {
		c.last.changed("")
	}
	return conn, info, err
}

func (c *observedClientCreds) Clone() credentials.TransportCredentials {
	return &observedClientCreds{TransportCredentials: c.TransportCredentials.Clone(), cfg: c.cfg, m: c.m, log: c.log, last: c.last}
}

// lastError remembers the last handshake error, to log a repeated one once.
type lastError struct {
	mu  sync.Mutex
	msg string
}

// changed stores msg and reports whether it differs from the previous one.
func (l *lastError) changed(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.msg == msg {
		return false
	}
	l.msg = msg
	return true
}
