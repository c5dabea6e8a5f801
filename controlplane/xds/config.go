package xds

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/config"
)

// Config configures the xDS server and the resources it serves. The zero value of every field
// means its default (see [DefaultConfig]); CertFile, KeyFile and the files of ServerTLS have
// none.
type Config struct {
	// ListenAddress is the host:port of the gRPC xDS server (ADS, SotW and delta). Default
	// 127.0.0.1:18000: only an Envoy on the same host or behind a sidecar reaches it.
	ListenAddress string `yaml:"listen_address"`
	// ServerTLS is the mutual TLS of the gRPC xDS server (its own certificate and the CA of the
	// edges' client certificates). Required: without it (or an explicit server_tls.insecure on
	// loopback) the server does not start.
	ServerTLS ServerTLSConfig `yaml:"server_tls"`
	// NodeCluster, when set, is the only node.cluster accepted; a stream from another cluster
	// is closed with an error. Empty accepts every node. Every accepted node gets the same
	// resources; NACK state (fallback to the last good snapshot) is kept per node.id.
	NodeCluster string `yaml:"node_cluster"`

	// CertFile and KeyFile are the PEM server certificate chain and private key of the edge
	// listener, served over SDS. Required. Both are polled every CertPollInterval; a changed,
	// valid pair becomes a new SDS secret version; an invalid pair is logged and the previous
	// one kept.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CertPollInterval is how often the certificate files (these two and ServerTLS's three)
	// are checked. Default 1s.
	CertPollInterval time.Duration `yaml:"cert_poll_interval"`

	// ListenerAddress and ListenerPort are where the edge listener binds inside Envoy.
	// Defaults 0.0.0.0 and 8443.
	ListenerAddress string `yaml:"listener_address"`
	ListenerPort    uint32 `yaml:"listener_port"`
	// FilterLibraryPath is the library_path of the golang filter: where the edge filter's .so
	// is on the Envoy host. Default filterconfig.DefaultLibraryPath.
	FilterLibraryPath string `yaml:"filter_library_path"`

	// Edge are the edge-wide limits sent to the filter.
	Edge EdgeLimits `yaml:"edge"`
	// Upstream configures the ingest-v1 and ingest-v2 clusters and the routes to them.
	Upstream UpstreamConfig `yaml:"upstream"`
	// Report is where the edge filters send their parity reports (sent to the filter as
	// report_url, report_token and report_interval). Zero: the edges report nothing.
	Report ReportConfig `yaml:"report"`
	// HopKeyFile is the hop key file (package hopauth: one key per line, hex or base64; the
	// first signs) whose first key the edge filters sign admitted requests with (sent to the
	// filter as hop_key), read at every snapshot build so that a rotated key reaches the edges
	// with the next push. Normalizers refuse unsigned requests unless they opt out, so set it
	// to the file the normalizers and sink writers use. Empty: the edges sign nothing.
	HopKeyFile string `yaml:"hop_key_file"`

	// Debounce is how long the server gathers registry changes before it rebuilds: the first
	// change starts the window, later ones within it are coalesced (a steady stream of changes
	// cannot postpone a rebuild). Default 100ms, at most 200ms so that a change is served
	// within a second.
	Debounce time.Duration `yaml:"debounce"`
}

// ReportConfig is the edges' parity report stream (package migration/report).
type ReportConfig struct {
	// URL is the control plane's admin URL as the edges reach it (http or https, no query),
	// e.g. http://10.0.0.5:9090; the edges POST to URL + /v1/reports. Empty: no reporting.
	URL string `yaml:"url"`
	// TokenFile is a file holding the report bearer token (surrounding whitespace ignored),
	// read at every snapshot build so that a rotated token reaches the edges with the next
	// push. Required with URL unless Token is set.
	TokenFile string `yaml:"token_file"`
	// Token is the report token itself, for a control plane that holds it in memory; never
	// read from a config file. It takes precedence over TokenFile.
	Token string `yaml:"-"`
	// Interval is how often an edge reports, from 100ms to 1m. 0: the filter's default, 1s.
	Interval time.Duration `yaml:"interval"`
}

// token returns the report token: Token, else the content of TokenFile.
func (r ReportConfig) token() (string, error) {
	if r.Token != "" || r.TokenFile == "" {
		return r.Token, nil
	}
	b, err := os.ReadFile(r.TokenFile)
	if err != nil {
		return "", fmt.Errorf("cannot read xds.report.token_file %q: %w", r.TokenFile, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("xds.report.token_file %q is empty", r.TokenFile)
	}
	return tok, nil
}

// EdgeLimits are the edge-wide limits (see filterconfig.Limits).
type EdgeLimits struct {
	// MaxInFlightBytes bounds the request bytes the filter holds at once. Default 256 MiB.
	MaxInFlightBytes int64 `yaml:"max_in_flight_bytes"`
	// MaxRequestBodyBytes bounds one request body; it also sizes the listener's
	// per_connection_buffer_limit_bytes (the filter's StopAndBuffer cap, above which Envoy
	// answers 413) and the routes' per_request_buffer_limit_bytes (the body kept for retries).
	// Default 8 MiB; at most 4 GiB-1 (a uint32 in Envoy) and at most MaxInFlightBytes.
	MaxRequestBodyBytes int64 `yaml:"max_request_body_bytes"`
	// DefaultRetryAfter is the Retry-After the edge sends with 429 and 503 when it has no better
	// estimate, in whole seconds. Default 1s.
	DefaultRetryAfter time.Duration `yaml:"default_retry_after"`
}

// UpstreamConfig configures the clusters ingest-v1 and ingest-v2 and the retries toward them.
type UpstreamConfig struct {
	// ConnectTimeout is the clusters' connect_timeout. Default 1s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// RequestTimeout is the routes' timeout, retries included. Default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// NumRetries is how often a request answered 429 or 503 (or refused before it was sent) is
	// retried. Default 2.
	NumRetries uint32 `yaml:"num_retries"`
	// MaxRetryAfter caps the wait that an upstream's Retry-After asks for; a longer Retry-After
	// ends the retries and the 429/503 goes to the client. Default 5s.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// Circuit breaker thresholds per cluster: overflow is a local 503 with
	// x-envoy-overloaded. Defaults 1024, 1024, 1024, 64.
	MaxConnections     uint32 `yaml:"max_connections"`
	MaxPendingRequests uint32 `yaml:"max_pending_requests"`
	MaxRequests        uint32 `yaml:"max_requests"`
	MaxRetries         uint32 `yaml:"max_retries"`
}

// DefaultConfig returns the defaults; CertFile, KeyFile and ServerTLS are empty.
func DefaultConfig() Config {
	return Config{
		ListenAddress:     "127.0.0.1:18000",
		CertPollInterval:  time.Second,
		ListenerAddress:   "0.0.0.0",
		ListenerPort:      8443,
		FilterLibraryPath: filterconfig.DefaultLibraryPath,
		Edge: EdgeLimits{
			MaxInFlightBytes:    256 << 20,
			MaxRequestBodyBytes: 8 << 20,
			DefaultRetryAfter:   time.Second,
		},
		Upstream: UpstreamConfig{
			ConnectTimeout:     time.Second,
			RequestTimeout:     30 * time.Second,
			NumRetries:         2,
			MaxRetryAfter:      5 * time.Second,
			MaxConnections:     1024,
			MaxPendingRequests: 1024,
			MaxRequests:        1024,
			MaxRetries:         64,
		},
		Debounce: 100 * time.Millisecond,
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	config.Default(&c.ListenAddress, d.ListenAddress)
	config.Default(&c.CertPollInterval, d.CertPollInterval)
	config.Default(&c.ListenerAddress, d.ListenerAddress)
	config.Default(&c.ListenerPort, d.ListenerPort)
	config.Default(&c.FilterLibraryPath, d.FilterLibraryPath)
	config.Default(&c.Edge.MaxInFlightBytes, d.Edge.MaxInFlightBytes)
	config.Default(&c.Edge.MaxRequestBodyBytes, d.Edge.MaxRequestBodyBytes)
	config.Default(&c.Edge.DefaultRetryAfter, d.Edge.DefaultRetryAfter)
	u, du := &c.Upstream, d.Upstream
	config.Default(&u.ConnectTimeout, du.ConnectTimeout)
	config.Default(&u.RequestTimeout, du.RequestTimeout)
	config.Default(&u.NumRetries, du.NumRetries)
	config.Default(&u.MaxRetryAfter, du.MaxRetryAfter)
	config.Default(&u.MaxConnections, du.MaxConnections)
	config.Default(&u.MaxPendingRequests, du.MaxPendingRequests)
	config.Default(&u.MaxRequests, du.MaxRequests)
	config.Default(&u.MaxRetries, du.MaxRetries)
	config.Default(&c.Debounce, d.Debounce)
	return c
}

// Validate reports every problem at once, naming the key at fault. It validates c as given:
// call it on c.WithDefaults() to accept zero fields.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		add("xds.listen_address %q must be host:port: %v", c.ListenAddress, err)
	}
	c.ServerTLS.validate(c.ListenAddress, add)
	if c.CertFile == "" {
		add("xds.cert_file is required: the PEM certificate chain of the edge listener")
	}
	if c.KeyFile == "" {
		add("xds.key_file is required: the PEM private key of the edge listener")
	}
	if c.CertPollInterval < 100*time.Millisecond || c.CertPollInterval > time.Minute {
		add("xds.cert_poll_interval %v must be from 100ms to 1m", c.CertPollInterval)
	}
	if net.ParseIP(c.ListenerAddress) == nil {
		add("xds.listener_address %q must be an IP address", c.ListenerAddress)
	}
	if c.ListenerPort < 1 || c.ListenerPort > 65535 {
		add("xds.listener_port %d must be from 1 to 65535", c.ListenerPort)
	}
	if c.FilterLibraryPath == "" {
		add("xds.filter_library_path must not be empty")
	}
	e := c.Edge
	if e.MaxInFlightBytes < 1 || e.MaxInFlightBytes > filterconfig.MaxExactInt {
		add("xds.edge.max_in_flight_bytes %d must be from 1 to 2^53", e.MaxInFlightBytes)
	}
	if e.MaxRequestBodyBytes < 1 || e.MaxRequestBodyBytes > 1<<32-1 || e.MaxRequestBodyBytes > e.MaxInFlightBytes {
		add("xds.edge.max_request_body_bytes %d must be from 1 to min(4 GiB-1, xds.edge.max_in_flight_bytes %d)", e.MaxRequestBodyBytes, e.MaxInFlightBytes)
	}
	if e.DefaultRetryAfter < time.Second || e.DefaultRetryAfter > filterconfig.MaxRetryAfterSeconds*time.Second || e.DefaultRetryAfter%time.Second != 0 {
		add("xds.edge.default_retry_after %v must be whole seconds from 1s to 1h", e.DefaultRetryAfter)
	}
	if r := c.Report; r.URL == "" {
		if r.TokenFile != "" {
			add("xds.report.token_file is set without xds.report.url; set both, or neither to turn edge reports off")
		}
	} else {
		if pu, err := url.Parse(r.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.RawQuery != "" {
			add("xds.report.url %q must be an http or https URL with a host and no query", r.URL)
		}
		if r.TokenFile == "" && r.Token == "" {
			add("xds.report.token_file is required with xds.report.url")
		}
	}
	if d := c.Report.Interval; d != 0 && (d < filterconfig.MinReportInterval || d > filterconfig.MaxReportInterval) {
		add("xds.report.interval %v must be from %v to %v (0 means 1s)", d, filterconfig.MinReportInterval, filterconfig.MaxReportInterval)
	}
	u := c.Upstream
	if u.ConnectTimeout < time.Millisecond || u.ConnectTimeout > time.Minute {
		add("xds.upstream.connect_timeout %v must be from 1ms to 1m", u.ConnectTimeout)
	}
	if u.RequestTimeout < time.Second || u.RequestTimeout > 10*time.Minute {
		add("xds.upstream.request_timeout %v must be from 1s to 10m", u.RequestTimeout)
	}
	if u.NumRetries > 10 {
		add("xds.upstream.num_retries %d must be at most 10", u.NumRetries)
	}
	if u.MaxRetryAfter < time.Second || u.MaxRetryAfter > u.RequestTimeout {
		add("xds.upstream.max_retry_after %v must be from 1s to xds.upstream.request_timeout (%v)", u.MaxRetryAfter, u.RequestTimeout)
	}
	for _, t := range []struct {
		name string
		v    uint32
	}{{"max_connections", u.MaxConnections}, {"max_pending_requests", u.MaxPendingRequests}, {"max_requests", u.MaxRequests}, {"max_retries", u.MaxRetries}} {
		if t.v < 1 {
			add("xds.upstream.%s must be at least 1", t.name)
		}
	}
	if c.Debounce < time.Millisecond || c.Debounce > 200*time.Millisecond {
		add("xds.debounce %v must be from 1ms to 200ms", c.Debounce)
	}
	return errors.Join(errs...)
}
