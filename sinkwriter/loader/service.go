package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/sinkwriter/rollup"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// PasswordEnv names the environment variable `ingest loader` and `ingest migrate` take the
// ClickHouse password from when it is set (it then overrides loader.password of the file).
const PasswordEnv = "INGEST_CLICKHOUSE_PASSWORD"

// ServiceConfig configures `ingest loader` (and `ingest migrate`, which reads the same file:
// the ClickHouse keys of loader, and migrate_timeout). The zero value of every field means
// its default (see DefaultServiceConfig); Validate reports every problem at once, naming its
// key.
type ServiceConfig struct {
	// Listen is the host:port of /healthz, /readyz and /metrics. Default 127.0.0.1:9465;
	// "none" serves no listener (readiness is then not observable from outside).
	Listen string `yaml:"listen"`
	// MigrateTimeout bounds `ingest migrate` as a whole. Default 2 min. (The loader migrates
	// at start too, retrying until ClickHouse answers: see loader.skip_migrate.)
	MigrateTimeout time.Duration `yaml:"migrate_timeout"`
	// Loader is the loader: Kafka, ClickHouse, flush and retry settings. Its brokers and
	// clickhouse_addr default to 127.0.0.1:9092 and 127.0.0.1:9000 here. The drain at
	// shutdown is bounded by loader.shutdown_timeout (the last flush and commit) plus 5 s.
	Loader Config `yaml:"loader"`
}

// NoListener is the Listen value that serves no listener.
const NoListener = "none"

// DefaultServiceConfig returns the defaults that zero ServiceConfig fields stand for.
func DefaultServiceConfig() ServiceConfig {
	l := DefaultConfig()
	l.Brokers = []string{"127.0.0.1:9092"}
	l.ClickHouseAddr = []string{"127.0.0.1:9000"}
	return ServiceConfig{Listen: "127.0.0.1:9465", MigrateTimeout: 2 * time.Minute, Loader: l}
}

// WithDefaults returns c with every zero field set to its default.
func (c ServiceConfig) WithDefaults() ServiceConfig {
	d := DefaultServiceConfig()
	config.Default(&c.Listen, d.Listen)
	config.Default(&c.MigrateTimeout, d.MigrateTimeout)
	if len(c.Loader.Brokers) == 0 {
		c.Loader.Brokers = d.Loader.Brokers
	}
	if len(c.Loader.ClickHouseAddr) == 0 {
		c.Loader.ClickHouseAddr = d.Loader.ClickHouseAddr
	}
	c.Loader = c.Loader.withDefaults()
	return c
}

// Validate reports every problem at once, naming its key. Zero fields stand for their
// defaults.
func (c ServiceConfig) Validate() error {
	var errs []error
	if c.MigrateTimeout < 0 {
		errs = append(errs, fmt.Errorf("migrate_timeout: %v must not be negative (0 means the default)", c.MigrateTimeout))
	}
	errs = append(errs, config.Prefix("loader", c.WithDefaults().Loader.Validate()))
	return errors.Join(errs...)
}

// Service is `ingest loader`: the Loader and, unless loader.rollup.disabled, the metric
// roll-up worker (package sinkwriter/rollup) beside it on a ClickHouse connection of its own,
// with /healthz, /readyz (Loader.Ready: in its consumer group and ClickHouse answers) and
// /metrics. It implements service.Service.
type Service struct {
	*service.Server
	l *Loader
	w *rollup.Worker // nil: disabled
}

// NewService checks cfg, creates the loader and binds the listener, so that every startup
// problem is reported here. The loader connects to Kafka and ClickHouse (and migrates) in
// Run, retrying while they cannot be reached.
func NewService(cfg ServiceConfig, set service.Settings) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot start the loader: invalid config: %w", err)
	}
	cfg = cfg.WithDefaults()
	set = set.WithDefaults()
	l, err := New(cfg.Loader, set.Registry, set.Log)
	if err != nil {
		return nil, err
	}
	listen := cfg.Listen
	if listen == NoListener {
		listen = ""
	}
	s := &Service{l: l}
	run := l.Run
	if !cfg.Loader.Rollup.Disabled {
		opts := ClickHouseOptions(cfg.Loader)
		if cfg.Loader.ClickHouseCluster != "" {
			// One connection, kept until it breaks (no lifetime: clickhouse-go would dial a new
			// one after an hour, perhaps to another replica between a check and a statement), so
			// that a cycle's statements reach the replica its checks were made on
			// (rollup.Config.Cluster).
			opts.MaxOpenConns = 1
			opts.ConnMaxLifetime = math.MaxInt64
		}
		conn, err := clickhouse.Open(opts) // dials lazily
		if err != nil {
			return nil, fmt.Errorf("cannot open ClickHouse %q for the roll-up worker: %w", cfg.Loader.ClickHouseAddr, err)
		}
		if s.w, err = rollup.New(conn, cfg.Loader.rollupConfig(), set.Registry, set.Log.With("component", "rollup")); err != nil {
			_ = conn.Close()
			return nil, err
		}
		run = func(ctx context.Context) error { return runWithRollups(ctx, l, s.w, conn) }
	}
	limit := cfg.Loader.MemoryLimit
	s.Server, err = service.New(service.Options{
		Name:   "loader",
		Listen: listen,
		Ready:  l.Ready,
		Run: func(ctx context.Context) error {
			defer setMemoryLimit(limit, set.Log)()
			return run(ctx)
		},
		ShutdownTimeout: cfg.Loader.ShutdownTimeout + 5*time.Second,
	}, set)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Loader returns the loader the service runs.
func (s *Service) Loader() *Loader { return s.l }

// Rollups returns the roll-up worker the service runs, nil when loader.rollup.disabled.
func (s *Service) Rollups() *rollup.Worker { return s.w }

// setMemoryLimit sets the process's soft memory limit to limit (see Config.MemoryLimit), unless
// limit is -1 or GOMEMLIMIT is set, and returns what restores the previous limit.
func setMemoryLimit(limit int64, log *slog.Logger) (restore func()) {
	if limit < 0 {
		return func() {}
	}
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		log.Info("GOMEMLIMIT is set; memory_limit is not applied", "GOMEMLIMIT", env, "memory_limit", limit)
		return func() {}
	}
	prev := debug.SetMemoryLimit(limit)
	log.Info("memory limit set", "memory_limit", limit)
	return func() { debug.SetMemoryLimit(prev) }
}

// runWithRollups runs the loader and the roll-up worker until ctx ends or the loader returns,
// then stops the worker (it waits for the schema the loader migrates, and keeps retrying while
// ClickHouse is down, so it never ends the service) and closes its connection.
func runWithRollups(ctx context.Context, l *Loader, w *rollup.Worker, conn driver.Conn) error {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(wctx) // returns nil, when wctx ends
	}()
	err := l.Run(ctx)
	cancel()
	<-done
	_ = conn.Close()
	return err
}

// Migrate applies the schema migrations that cfg's ClickHouse database does not record yet,
// within cfg.MigrateTimeout (`ingest migrate`; the loader does the same at start), on every
// replica of loader.clickhouse_cluster when it is set, and logs each.
func Migrate(ctx context.Context, cfg ServiceConfig, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("cannot migrate: invalid config: %w", err)
	}
	cfg = cfg.WithDefaults()
	lc := cfg.Loader
	conn, err := clickhouse.Open(ClickHouseOptions(lc))
	if err != nil {
		return fmt.Errorf("cannot open ClickHouse %q: %w", lc.ClickHouseAddr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.MigrateTimeout)
	defer cancel()
	applied, err := schema.MigrateCluster(ctx, conn, lc.Database, lc.ClickHouseCluster)
	for _, m := range applied {
		log.Info("applied migration", "version", m.Version, "name", m.Name, "database", lc.Database)
	}
	if err != nil {
		return fmt.Errorf("cannot migrate database %q of ClickHouse %q: %w", lc.Database, lc.ClickHouseAddr, err)
	}
	log.Info("schema up to date", "database", lc.Database, "cluster", lc.ClickHouseCluster, "applied", len(applied))
	return nil
}
