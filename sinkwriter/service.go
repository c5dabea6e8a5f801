package sinkwriter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/service"
)

// ServiceConfig configures `ingest sinkwriter`: the write path behind its internal
// listener. The zero value of every field means its default (see DefaultServiceConfig);
// Validate reports every problem at once, naming its key.
type ServiceConfig struct {
	// Listen is the host:port of the internal API (POST /v1/batches), /healthz, /readyz and
	// /metrics; reachable from normalizers only. Default 127.0.0.1:4320.
	Listen string `yaml:"listen"`
	// ShutdownTimeout bounds the drain at shutdown: the batches in progress are answered
	// (each once Kafka acknowledged it, or failed) and every buffered record is flushed
	// within it; what is left then fails. Default 20 s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxConnections bounds the connections the listener holds open; a connection accepted
	// above it is closed at once and counted in ingest_sinkwriter_connections_refused_total.
	// Default 1024.
	MaxConnections int `yaml:"max_connections"`
	// ReadHeaderTimeout bounds reading a request's headers; past it the connection is
	// closed. Default 10 s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyIdleTimeout cuts a batch whose body sends no data for this long: it gets 408 and its
	// connection is closed, counted in ingest_sinkwriter_body_read_timeouts_total; the bytes it
	// held are released at once. Default 10 s.
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`
	// Writer is the write path: brokers, topics, compression, buffer bounds. Its brokers
	// default to 127.0.0.1:9092 here (`ingest kafka`'s default).
	Writer Config `yaml:"writer"`
	// HopAuth authenticates the normalizers: every batch must carry their hop signature
	// (package hopauth) over its tenant, record count and shadow flag, or gets 401
	// err-ingest-internal-auth. hop_auth.key_file is required unless
	// hop_auth.insecure_internal_hops: true.
	HopAuth hopauth.Config `yaml:"hop_auth"`
	// Tenants is where the writer learns the registered tenants (the control plane's
	// GET /v1/tenants); a batch of any other tenant gets 403 err-ingest-unknown-tenant and no
	// topic. tenants.url is required unless tenants.allow_any_tenant: true.
	Tenants TenantsConfig `yaml:"tenants"`
}

// DefaultServiceConfig returns the defaults that zero ServiceConfig fields stand for.
func DefaultServiceConfig() ServiceConfig {
	w := DefaultConfig()
	w.Brokers = []string{"127.0.0.1:9092"}
	return ServiceConfig{Listen: "127.0.0.1:4320", ShutdownTimeout: service.DefaultShutdownTimeout, Writer: w,
		MaxConnections: service.DefaultMaxConnections, ReadHeaderTimeout: service.ReadHeaderTimeout, BodyIdleTimeout: service.DefaultBodyIdleTimeout}
}

// WithDefaults returns c with every zero field set to its default.
func (c ServiceConfig) WithDefaults() ServiceConfig {
	d := DefaultServiceConfig()
	config.Default(&c.Listen, d.Listen)
	config.Default(&c.ShutdownTimeout, d.ShutdownTimeout)
	config.Default(&c.MaxConnections, d.MaxConnections)
	config.Default(&c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	config.Default(&c.BodyIdleTimeout, d.BodyIdleTimeout)
	if len(c.Writer.Brokers) == 0 {
		c.Writer.Brokers = d.Writer.Brokers
	}
	return c
}

// Validate reports every problem at once, naming its key. Zero fields stand for their
// defaults.
func (c ServiceConfig) Validate() error {
	var errs []error
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown_timeout: %v must not be negative (0 means the default)", c.ShutdownTimeout))
	}
	errs = append(errs, service.ValidateListenerBounds(c.MaxConnections, c.ReadHeaderTimeout, c.BodyIdleTimeout)...)
	errs = append(errs, config.Prefix("writer", c.WithDefaults().Writer.Validate()))
	errs = append(errs, c.HopAuth.Validate("hop_auth"), c.Tenants.Validate())
	return errors.Join(errs...)
}

// Service is `ingest sinkwriter`: a Writer behind its internal listener. It implements
// service.Service; its readiness is the Writer's (Kafka answers, not draining).
type Service struct {
	*service.Server
	w *Writer
}

// NewService checks cfg, creates the Writer (which connects to Kafka on its first batch or
// readiness check) and binds the listener, so that every startup problem is reported here.
// At shutdown the listener stops first, letting the batches in progress wait for their
// acks, then the Writer flushes and closes its Kafka clients.
func NewService(cfg ServiceConfig, set service.Settings) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot start the sink writer: invalid config: %w", err)
	}
	cfg = cfg.WithDefaults()
	set = set.WithDefaults()
	_, verifier, err := cfg.HopAuth.Load()
	if err != nil {
		return nil, fmt.Errorf("cannot start the sink writer: hop_auth.key_file: %w", err)
	}
	opts := []Option{}
	if verifier != nil {
		opts = append(opts, WithHopAuth(verifier))
	} else {
		set.Log.Warn("INSECURE: hop_auth.insecure_internal_hops is set: the sink writer accepts batches from anyone who reaches its port, for any tenant")
	}
	var tenants *Tenants
	if cfg.Tenants.AllowAnyTenant {
		set.Log.Warn("INSECURE: tenants.allow_any_tenant is set: the sink writer creates a topic for any tenant id it is sent")
	} else {
		if tenants, err = NewTenants(cfg.Tenants, set.Registry, set.Log); err != nil {
			return nil, fmt.Errorf("cannot start the sink writer: %w", err)
		}
		opts = append(opts, WithTenants(tenants))
	}
	w, err := New(cfg.Writer, set.Registry, set.Log, opts...)
	if err != nil {
		return nil, err
	}
	s := &Service{w: w}
	var run func(context.Context) error
	if tenants != nil {
		run = func(ctx context.Context) error { tenants.Run(ctx); return nil }
	}
	s.Server, err = service.New(service.Options{
		Name:              "sinkwriter",
		Listen:            cfg.Listen,
		Handler:           w.Handler(),
		Ready:             w.Ready,
		Run:               run,
		Drain:             w.Drain,
		Shutdown:          w.Shutdown,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		MaxConnections:    cfg.MaxConnections,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		BodyIdleTimeout:   cfg.BodyIdleTimeout,
	}, set)
	if err != nil {
		_ = w.Shutdown(context.Background())
		return nil, err
	}
	return s, nil
}

// Writer returns the Writer the service serves.
func (s *Service) Writer() *Writer { return s.w }
