package normalizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/migration/report"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/client"
)

// Sink kinds of ServiceConfig.Sink.
const (
	// SinkWriter posts batches to the sink writer at ServiceConfig.SinkWriter.URL: the
	// pipeline's sink, durable once Kafka acknowledged them.
	SinkWriter = "sinkwriter"
	// SinkLog logs a one-line summary of each batch and keeps nothing: for trying the
	// normalizer alone.
	SinkLog = "log"
	// SinkDiscard drops every batch: for benchmarks of the normalizer alone.
	SinkDiscard = "discard"
)

// ServiceConfig configures `ingest normalizer`: the normalizer behind its internal
// listener, and its sink. The zero value of every field means its default (see
// DefaultServiceConfig); Validate reports every problem at once, naming its key.
type ServiceConfig struct {
	// Listen is the host:port of the ingest API, /healthz, /readyz and /metrics; reachable
	// from the edge only (the normalizer trusts the tenant header only under the edge's
	// signature, see HopAuth). Default 127.0.0.1:4318.
	Listen string `yaml:"listen"`
	// ShutdownTimeout bounds the drain at shutdown: the requests in progress (each waits up
	// to normalizer.sink_timeout for its sink) finish within it or are cut. Default 20 s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxConnections bounds the connections the listener holds open; a connection accepted
	// above it is closed at once and counted in
	// ingest_normalizer_connections_refused_total. Default 1024.
	MaxConnections int `yaml:"max_connections"`
	// ReadHeaderTimeout bounds reading a request's headers; past it the connection is
	// closed. Default 10 s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyIdleTimeout cuts a request whose body sends no data for this long: it gets 408 and
	// its connection is closed, counted in ingest_normalizer_body_read_timeouts_total. The
	// bytes it had sent are released at once. Default 10 s.
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`
	// Sink is where accepted batches go: sinkwriter (the pipeline; sink_writer.url is then
	// required), log or discard (see the Sink* constants). There is no silent fallback: a
	// normalizer without a sink writer URL must be given log or discard explicitly.
	// Default sinkwriter.
	Sink string `yaml:"sink"`
	// SinkWriter is the client of the sink writer, used with sink: sinkwriter. Its timeout
	// defaults to normalizer.sink_timeout + 5 s, so that the normalizer's own deadline (503)
	// comes first.
	SinkWriter client.Config `yaml:"sink_writer"`
	// Normalizer are the normalizer's limits.
	Normalizer Config `yaml:"normalizer"`
	// Report sends the answers to shadow requests (mirrored traffic of tenants in the shadow
	// stage) to the control plane's parity report stream. Zero: off.
	Report report.Config `yaml:"report"`
	// HopAuth authenticates the internal hops: every request must carry the edge's hop
	// signature (package hopauth) over its tenant and event count, or gets 401
	// err-ingest-internal-auth; batches to the sink writer are signed with the file's first
	// key. hop_auth.key_file is required unless hop_auth.insecure_internal_hops: true.
	HopAuth hopauth.Config `yaml:"hop_auth"`
}

// DefaultServiceConfig returns the defaults that zero ServiceConfig fields stand for.
func DefaultServiceConfig() ServiceConfig {
	return ServiceConfig{
		Listen:            "127.0.0.1:4318",
		ShutdownTimeout:   service.DefaultShutdownTimeout,
		MaxConnections:    service.DefaultMaxConnections,
		ReadHeaderTimeout: service.ReadHeaderTimeout,
		BodyIdleTimeout:   service.DefaultBodyIdleTimeout,
		Sink:              SinkWriter,
		Normalizer:        DefaultConfig(),
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c ServiceConfig) WithDefaults() ServiceConfig {
	d := DefaultServiceConfig()
	config.Default(&c.Listen, d.Listen)
	config.Default(&c.ShutdownTimeout, d.ShutdownTimeout)
	config.Default(&c.MaxConnections, d.MaxConnections)
	config.Default(&c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	config.Default(&c.BodyIdleTimeout, d.BodyIdleTimeout)
	config.Default(&c.Sink, d.Sink)
	c.Normalizer = c.Normalizer.withDefaults()
	// Above the normalizer's own sink deadline, which answers 503 first.
	config.Default(&c.SinkWriter.Timeout, c.Normalizer.SinkTimeout+5*time.Second)
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
	if err := c.Normalizer.Validate(); err != nil {
		errs = append(errs, config.Prefix("normalizer", err))
	}
	if err := c.Report.Validate(); err != nil {
		errs = append(errs, config.Prefix("report", err))
	}
	errs = append(errs, c.HopAuth.Validate("hop_auth"))
	switch c.WithDefaults().Sink {
	case SinkWriter:
		if c.SinkWriter.URL == "" {
			errs = append(errs, errors.New("sink_writer.url: required with sink: sinkwriter (the default; --sink-url), e.g. http://127.0.0.1:4320; to run without a sink writer choose sink: log or discard"))
		} else if err := c.WithDefaults().SinkWriter.Validate(); err != nil {
			errs = append(errs, config.Prefix("sink_writer", err))
		}
	case SinkLog, SinkDiscard:
		if c.SinkWriter.URL != "" {
			errs = append(errs, fmt.Errorf("sink: %q with sink_writer.url %q: choose one (sink: sinkwriter posts to the URL)", c.Sink, c.SinkWriter.URL))
		}
	default:
		errs = append(errs, fmt.Errorf("sink: %q is not sinkwriter, log or discard", c.Sink))
	}
	return errors.Join(errs...)
}

// Service is `ingest normalizer`: a Server behind its internal listener. It implements
// service.Service.
type Service struct {
	*service.Server
	srv  *Server
	sink Sink
}

// NewService checks cfg, builds the sink it names and the normalizer, and binds the
// listener, so that every startup problem is reported here.
func NewService(cfg ServiceConfig, set service.Settings) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot start the normalizer: invalid config: %w", err)
	}
	cfg = cfg.WithDefaults()
	set = set.WithDefaults()
	hopKey, verifier, err := cfg.HopAuth.Load()
	if err != nil {
		return nil, fmt.Errorf("cannot start the normalizer: hop_auth.key_file: %w", err)
	}
	opts := []Option{}
	var clientOpts []client.Option
	if verifier != nil {
		opts = append(opts, WithHopAuth(verifier))
		clientOpts = append(clientOpts, client.WithHopKey(hopKey))
	} else {
		set.Log.Warn("INSECURE: hop_auth.insecure_internal_hops is set: the normalizer trusts the tenant header of anyone who reaches its port, and does not sign its batches")
	}
	var sink Sink
	var closeSink func()
	switch cfg.Sink {
	case SinkWriter:
		c, err := client.New(cfg.SinkWriter, set.Log, clientOpts...)
		if err != nil {
			return nil, err
		}
		sink, closeSink = c, c.Close
	case SinkLog:
		sink = &logSink{log: set.Log}
	case SinkDiscard:
		sink = discardSink{}
	}
	release := func() {
		if closeSink != nil {
			closeSink()
		}
	}
	rep, err := report.Open(cfg.Report, report.Options{Source: report.SourceNormalizer, Registerer: set.Registry, Log: set.Log})
	if err != nil {
		release()
		return nil, fmt.Errorf("cannot start the normalizer: %w", err)
	}
	release = func() {
		if closeSink != nil {
			closeSink()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rep.Close(ctx); err != nil {
			set.Log.Warn("cannot send the last parity report", "error", err)
		}
	}
	srv, err := New(cfg.Normalizer, sink, set.Registry, set.Log, append(opts, WithReporter(rep))...)
	if err != nil {
		release()
		return nil, err
	}
	s := &Service{srv: srv, sink: sink}
	s.Server, err = service.New(service.Options{
		Name:              "normalizer",
		Listen:            cfg.Listen,
		Handler:           srv.Handler(),
		Ready:             s.ready,
		Drain:             srv.Drain,
		Shutdown:          func(context.Context) error { release(); return nil },
		ShutdownTimeout:   cfg.ShutdownTimeout,
		MaxConnections:    cfg.MaxConnections,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		BodyIdleTimeout:   cfg.BodyIdleTimeout,
		MetricsPrefix:     "ingest_normalizer",
	}, set)
	if err != nil {
		release()
		return nil, err
	}
	return s, nil
}

// Normalizer returns the normalizer the service serves.
func (s *Service) Normalizer() *Server { return s.srv }

// ready is the normalizer's readiness: its sink accepts writes, when the sink can tell (the
// sink writer's client asks the writer's /readyz). Draining is the Server's.
func (s *Service) ready(ctx context.Context) error {
	if rc, ok := s.sink.(readinessChecker); ok {
		if err := rc.Ready(ctx); err != nil {
			return fmt.Errorf("sink not ready: %w", err)
		}
	}
	return nil
}

// logSink logs a one-line summary of every batch. It makes nothing durable: it is for trying
// the normalizer alone; the pipeline uses the sink writer.
type logSink struct{ log *slog.Logger }

func (s *logSink) Write(_ context.Context, b record.Batch) error {
	s.log.Info("batch", "tenant", b.Tenant, "records", b.Count, "bytes", len(b.Data))
	return nil
}

// discardSink drops batches (benchmarks of the normalizer alone).
type discardSink struct{}

func (discardSink) Write(context.Context, record.Batch) error { return nil }
