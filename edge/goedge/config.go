package goedge

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/ingestdev/ingest/edge/filter/admission"
	"github.com/ingestdev/ingest/internal/config"
)

// Config configures the Go edge. The zero value of every field means its default (see
// [DefaultConfig]); [Config.Validate] reports every problem at once.
type Config struct {
	// ListenAddress is the host:port of the client-facing HTTPS listener (HTTP/1.1 and HTTP/2
	// over TLS 1.2+). Default 127.0.0.1:8443. The address in the LDS listener is not used:
	// where the edge binds is this process's business.
	ListenAddress string `yaml:"listen_address"`
	// AdminListenAddress is the host:port of /healthz, /readyz and /metrics (plain HTTP).
	// Default 127.0.0.1:9901 (Envoy's admin port).
	AdminListenAddress string `yaml:"admin_listen_address"`

	// XDSAddress is the host:port of the control plane's xDS server (ADS over gRPC with mutual
	// TLS). Default 127.0.0.1:18000.
	XDSAddress string `yaml:"xds_address"`
	// XDSCAFile is the PEM CA bundle the control plane's xDS server certificate must chain to
	// (the CA of its xds.server_tls.cert_file). Read at startup: to rotate the CA without a
	// restart, ship a bundle with the old and the new CA first. A server it does not vouch
	// for gets no stream, and the edge applies nothing from it (counted in
	// ingest_edge_xds_handshake_failures_total{reason="server_certificate_rejected"}).
	// Required unless XDSInsecure.
	XDSCAFile string `yaml:"xds_ca_file"`
	// XDSCertFile and XDSKeyFile are the PEM client certificate chain and private key the
	// edge presents to the control plane, which checks it against its
	// xds.server_tls.client_ca_file. Read at every connection to the control plane, so a
	// rotated pair is used from the next reconnect (a pair that does not load is logged and
	// the last good one presented). Required unless XDSInsecure.
	XDSCertFile string `yaml:"xds_cert_file"`
	XDSKeyFile  string `yaml:"xds_key_file"`
	// XDSServerName is the name (DNS or IP SAN) the xDS server's certificate must carry.
	// Empty (the default): the host of XDSAddress.
	XDSServerName string `yaml:"xds_server_name"`
	// XDSInsecure takes the configuration over plaintext gRPC from whatever answers at
	// XDSAddress, without TLS in either direction: only for a control plane on the same host
	// that runs with xds.server_tls.insecure. It requires a loopback XDSAddress, excludes the
	// files above and is logged as a warning at every start. Default false.
	XDSInsecure bool `yaml:"xds_insecure"`
	// NodeID is the xDS node.id: the control plane keeps NACK state per node id. Default the
	// host name (or "ingest-edge" if it is unknown).
	NodeID string `yaml:"node_id"`
	// NodeCluster is the xDS node.cluster. Default "ingest-edge".
	NodeCluster string `yaml:"node_cluster"`
	// ListenerName selects the LDS listener to serve. Empty (the default): the only listener;
	// an LDS update with more than one listener is then rejected (NACK).
	ListenerName string `yaml:"listener_name"`
	// XDSBackoffBase and XDSBackoffMax bound the wait before reconnecting to the control plane
	// after the stream ends: exponential from the base, with full jitter, capped at the max,
	// back to the base once a stream delivered a response. Defaults 250ms and 10s.
	XDSBackoffBase time.Duration `yaml:"xds_backoff_base"`
	XDSBackoffMax  time.Duration `yaml:"xds_backoff_max"`

	// CertFile and KeyFile, when both set, are the PEM certificate chain and private key the
	// listener serves, read once at startup; the SDS secret is then ignored (the listener
	// still subscribes to it, as Envoy would). Empty (the default): the certificate comes from
	// the control plane's SDS secret, and TLS handshakes fail until it arrived.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`

	// DefaultBufferLimitBytes bounds the request body the edge buffers for the filter when the
	// LDS listener sets no per_connection_buffer_limit_bytes: Envoy's default, 1 MiB. The
	// control plane sets it to the maximal body (8 MiB by default), which then applies. A
	// body above the limit gets Envoy's 413.
	DefaultBufferLimitBytes int64 `yaml:"default_buffer_limit_bytes"`
	// MaxHeaderBytes bounds the request line and headers. Default 60 KiB (Envoy's
	// max_request_headers_kb).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ReadHeaderTimeout bounds the time to read a request's headers. Default 10s (the control
	// plane's request_headers_timeout).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes downstream connections idle this long. Default 1h (the control
	// plane's idle_timeout).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConcurrentStreams bounds the HTTP/2 streams of one downstream connection. Default 100
	// (the control plane's http2_protocol_options).
	MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
	// MaxConnections bounds the downstream connections the client listener holds open; a
	// connection accepted above it is closed at once, before its TLS handshake, and counted
	// in ingest_edge_connections_refused_total (Envoy's downstream connection limit does the
	// same). From 1 to 1,000,000. Default 10,000.
	MaxConnections int `yaml:"max_connections"`
	// BodyIdleTimeout cuts a request (HTTP/1.1) or stream (HTTP/2) whose body sends no data
	// for this long: it gets Envoy's 408 "stream timeout" (or its connection closes), the
	// body it had sent is dropped, and it is counted in
	// ingest_edge_body_read_timeouts_total. From 100ms to 1h. Default 30s.
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`

	// DefaultRouteTimeout is the upstream timeout (retries included) of a route that sets
	// none: Envoy's 15s. A route timeout of 0 disables it, as in Envoy.
	DefaultRouteTimeout time.Duration `yaml:"default_route_timeout"`
	// DefaultConnectTimeout is the connect timeout of a cluster that sets none: Envoy's 5s.
	DefaultConnectTimeout time.Duration `yaml:"default_connect_timeout"`
	// MaxIdleConnsPerHost is how many idle keep-alive connections the edge keeps per upstream
	// endpoint. Default 64.
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host"`
	// UpstreamIdleTimeout closes idle upstream connections when the cluster sets no
	// common_http_protocol_options.idle_timeout. Default 1h (Envoy's).
	UpstreamIdleTimeout time.Duration `yaml:"upstream_idle_timeout"`

	// MaxMirrorsInFlight and MaxMirrorBytesInFlight bound the mirrored (shadow) requests in
	// progress, in requests and in body bytes. A mirror above either bound is dropped and
	// counted (ingest_edge_mirrors_total{outcome="dropped_full"}); the main request never
	// waits for a mirror. Defaults 256 and 64 MiB.
	MaxMirrorsInFlight     int   `yaml:"max_mirrors_in_flight"`
	MaxMirrorBytesInFlight int64 `yaml:"max_mirror_bytes_in_flight"`

	// TenantShare is the fraction of the filter's in-flight bound (limits.max_in_flight_bytes,
	// from the control plane) that one tenant's requests may hold together; a request that
	// would take its tenant over it gets 503 err-ingest-edge-tenant-share-full with
	// Retry-After, while other tenants are still admitted (invariant 3). A tenant holding
	// nothing may always have one request that fits in the edge. In (0, 1]; 1 bounds a tenant
	// by the edge's bound only. Default 0.25 (admission.DefaultTenantShare, which Envoy's .so
	// uses: the share is not part of the control plane's filter configuration).
	TenantShare float64 `yaml:"tenant_share"`

	// RetryAfter is the Retry-After the edge sends with the 503s it makes itself (no
	// configuration yet, circuit breaker overflow, no healthy upstream, connect failure), in
	// whole seconds. Default 1s. (Envoy sends none with its own 503s; invariant 2 wants one.)
	RetryAfter time.Duration `yaml:"retry_after"`

	// ShutdownTimeout bounds the graceful shutdown: requests still in progress after it are
	// cut. Default 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// DefaultConfig returns the defaults that a zero Config field stands for.
func DefaultConfig() Config {
	node, err := os.Hostname()
	if err != nil || node == "" {
		node = "ingest-edge"
	}
	return Config{
		ListenAddress:           "127.0.0.1:8443",
		AdminListenAddress:      "127.0.0.1:9901",
		XDSAddress:              "127.0.0.1:18000",
		NodeID:                  node,
		NodeCluster:             "ingest-edge",
		XDSBackoffBase:          250 * time.Millisecond,
		XDSBackoffMax:           10 * time.Second,
		DefaultBufferLimitBytes: 1 << 20,
		MaxHeaderBytes:          60 << 10,
		ReadHeaderTimeout:       10 * time.Second,
		IdleTimeout:             time.Hour,
		MaxConcurrentStreams:    100,
		MaxConnections:          10_000,
		BodyIdleTimeout:         30 * time.Second,
		DefaultRouteTimeout:     15 * time.Second,
		DefaultConnectTimeout:   5 * time.Second,
		MaxIdleConnsPerHost:     64,
		UpstreamIdleTimeout:     time.Hour,
		MaxMirrorsInFlight:      256,
		MaxMirrorBytesInFlight:  64 << 20,
		TenantShare:             admission.DefaultTenantShare,
		RetryAfter:              time.Second,
		ShutdownTimeout:         20 * time.Second,
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	config.Default(&c.ListenAddress, d.ListenAddress)
	config.Default(&c.AdminListenAddress, d.AdminListenAddress)
	config.Default(&c.XDSAddress, d.XDSAddress)
	config.Default(&c.NodeID, d.NodeID)
	config.Default(&c.NodeCluster, d.NodeCluster)
	config.Default(&c.XDSBackoffBase, d.XDSBackoffBase)
	config.Default(&c.XDSBackoffMax, d.XDSBackoffMax)
	config.Default(&c.DefaultBufferLimitBytes, d.DefaultBufferLimitBytes)
	config.Default(&c.MaxHeaderBytes, d.MaxHeaderBytes)
	config.Default(&c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	config.Default(&c.IdleTimeout, d.IdleTimeout)
	config.Default(&c.MaxConcurrentStreams, d.MaxConcurrentStreams)
	config.Default(&c.MaxConnections, d.MaxConnections)
	config.Default(&c.BodyIdleTimeout, d.BodyIdleTimeout)
	config.Default(&c.DefaultRouteTimeout, d.DefaultRouteTimeout)
	config.Default(&c.DefaultConnectTimeout, d.DefaultConnectTimeout)
	config.Default(&c.MaxIdleConnsPerHost, d.MaxIdleConnsPerHost)
	config.Default(&c.UpstreamIdleTimeout, d.UpstreamIdleTimeout)
	config.Default(&c.MaxMirrorsInFlight, d.MaxMirrorsInFlight)
	config.Default(&c.MaxMirrorBytesInFlight, d.MaxMirrorBytesInFlight)
	config.Default(&c.TenantShare, d.TenantShare)
	config.Default(&c.RetryAfter, d.RetryAfter)
	config.Default(&c.ShutdownTimeout, d.ShutdownTimeout)
	return c
}

// Validate reports every problem at once, naming the key at fault. It validates c as given:
// call it on c.WithDefaults() to accept zero fields.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, a := range []struct{ key, v string }{
		{"listen_address", c.ListenAddress}, {"admin_listen_address", c.AdminListenAddress}, {"xds_address", c.XDSAddress},
	} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			add("edge.%s %q must be host:port: %v", a.key, a.v, err)
		}
	}
	if c.NodeID == "" {
		add("edge.node_id must not be empty")
	}
	if c.NodeCluster == "" {
		add("edge.node_cluster must not be empty")
	}
	if c.XDSBackoffBase < time.Millisecond || c.XDSBackoffBase > c.XDSBackoffMax {
		add("edge.xds_backoff_base %v must be from 1ms to edge.xds_backoff_max (%v)", c.XDSBackoffBase, c.XDSBackoffMax)
	}
	if c.XDSBackoffMax > 5*time.Minute {
		add("edge.xds_backoff_max %v must be at most 5m", c.XDSBackoffMax)
	}
	c.validateXDSTLS(add)
	if (c.CertFile == "") != (c.KeyFile == "") {
		add("edge.cert_file and edge.key_file must be set together (both empty: the certificate comes over SDS)")
	}
	if c.DefaultBufferLimitBytes < 1 || c.DefaultBufferLimitBytes > 1<<32-1 {
		add("edge.default_buffer_limit_bytes %d must be from 1 to 4 GiB-1", c.DefaultBufferLimitBytes)
	}
	if c.MaxHeaderBytes < 1<<10 || c.MaxHeaderBytes > 1<<20 {
		add("edge.max_header_bytes %d must be from 1 KiB to 1 MiB", c.MaxHeaderBytes)
	}
	for _, d := range []struct {
		key      string
		v        time.Duration
		min, max time.Duration
	}{
		{"read_header_timeout", c.ReadHeaderTimeout, 100 * time.Millisecond, 10 * time.Minute},
		{"idle_timeout", c.IdleTimeout, time.Second, 24 * time.Hour},
		{"body_idle_timeout", c.BodyIdleTimeout, 100 * time.Millisecond, time.Hour},
		{"default_route_timeout", c.DefaultRouteTimeout, 100 * time.Millisecond, time.Hour},
		{"default_connect_timeout", c.DefaultConnectTimeout, time.Millisecond, time.Minute},
		{"upstream_idle_timeout", c.UpstreamIdleTimeout, time.Second, 24 * time.Hour},
		{"shutdown_timeout", c.ShutdownTimeout, 100 * time.Millisecond, 10 * time.Minute},
	} {
		if d.v < d.min || d.v > d.max {
			add("edge.%s %v must be from %v to %v", d.key, d.v, d.min, d.max)
		}
	}
	if c.RetryAfter < time.Second || c.RetryAfter > time.Hour || c.RetryAfter%time.Second != 0 {
		add("edge.retry_after %v must be whole seconds from 1s to 1h", c.RetryAfter)
	}
	if !(c.TenantShare > 0 && c.TenantShare <= 1) {
		add("edge.tenant_share %v is not in (0, 1] (0 means the default)", c.TenantShare)
	}
	if c.MaxConcurrentStreams < 1 {
		add("edge.max_concurrent_streams %d must be at least 1", c.MaxConcurrentStreams)
	}
	if c.MaxConnections < 1 || c.MaxConnections > 1_000_000 {
		add("edge.max_connections %d must be from 1 to 1000000", c.MaxConnections)
	}
	if c.MaxIdleConnsPerHost < 1 {
		add("edge.max_idle_conns_per_host %d must be at least 1", c.MaxIdleConnsPerHost)
	}
	if c.MaxMirrorsInFlight < 1 {
		add("edge.max_mirrors_in_flight %d must be at least 1", c.MaxMirrorsInFlight)
	}
	if c.MaxMirrorBytesInFlight < 1 {
		add("edge.max_mirror_bytes_in_flight %d must be at least 1", c.MaxMirrorBytesInFlight)
	}
	return errors.Join(errs...)
}

// validateXDSTLS adds the problems of the ADS client's TLS settings to add.
func (c Config) validateXDSTLS(add func(string, ...any)) {
	if c.XDSInsecure {
		if c.XDSCAFile != "" || c.XDSCertFile != "" || c.XDSKeyFile != "" || c.XDSServerName != "" {
			add("edge.xds_insecure excludes edge.xds_ca_file, xds_cert_file, xds_key_file and xds_server_name: choose mutual TLS or plaintext")
		}
		host, _, err := net.SplitHostPort(c.XDSAddress)
		if ip := net.ParseIP(host); err == nil && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			add("edge.xds_insecure needs a loopback edge.xds_address, not %q: over plaintext anyone on the path can feed the edge its configuration", c.XDSAddress)
		}
		return
	}
	for _, f := range []struct{ key, v, what string }{
		{"xds_ca_file", c.XDSCAFile, "the PEM CA bundle that signs the control plane's xDS server certificate"},
		{"xds_cert_file", c.XDSCertFile, "the PEM client certificate the edge presents to the control plane"},
		{"xds_key_file", c.XDSKeyFile, "the PEM private key of edge.xds_cert_file"},
	} {
		if f.v == "" {
			add("edge.%s is required: %s (or set edge.xds_insecure for a control plane on loopback)", f.key, f.what)
		}
	}
}
