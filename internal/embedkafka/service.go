package embedkafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/service"
)

// ServiceConfig configures `ingest kafka`. The zero value of every field means its default
// (see DefaultServiceConfig); Validate reports every problem at once, naming its key.
type ServiceConfig struct {
	// AdminListen is the host:port of /healthz, /readyz and /metrics. Empty (the default):
	// none, so that several brokers run side by side without a port each.
	AdminListen string `yaml:"admin_listen"`
	// Kafka is the embedded cluster. Its data_dir defaults to ./.data/kafka and its listen to
	// 127.0.0.1:9092 here.
	Kafka Config `yaml:"kafka"`
}

// DefaultServiceConfig returns the defaults that zero ServiceConfig fields stand for.
func DefaultServiceConfig() ServiceConfig {
	return ServiceConfig{Kafka: Config{DataDir: "./.data/kafka", Listen: []string{"127.0.0.1:9092"}, DefaultPartitions: 6}}
}

// WithDefaults returns c with every zero field set to its default.
func (c ServiceConfig) WithDefaults() ServiceConfig {
	d := DefaultServiceConfig()
	config.Default(&c.Kafka.DataDir, d.Kafka.DataDir)
	if len(c.Kafka.Listen) == 0 {
		c.Kafka.Listen = d.Kafka.Listen
	}
	config.Default(&c.Kafka.DefaultPartitions, d.Kafka.DefaultPartitions)
	return c
}

// Validate reports every problem at once, naming its key. Zero fields stand for their
// defaults.
func (c ServiceConfig) Validate() error {
	var errs []error
	if c.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
			errs = append(errs, fmt.Errorf("admin_listen: %q is not host:port: %w", c.AdminListen, err))
		}
	}
	errs = append(errs, config.Prefix("kafka", c.WithDefaults().Kafka.Validate()))
	return errors.Join(errs...)
}

// Service is `ingest kafka`: the embedded cluster, started by NewService, closed when Run
// ends. It implements service.Service; it is ready while its brokers accept connections.
type Service struct {
	*service.Server
	k *Kafka
}

// NewService starts the cluster (its brokers listen, its data directory is locked and
// reloaded) and binds the admin listener, so that every startup problem is reported here.
// Run serves until its ctx ends, then closes the cluster (see Kafka.Close).
func NewService(cfg ServiceConfig, set service.Settings) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot start embedded Kafka: invalid config: %w", err)
	}
	cfg = cfg.WithDefaults()
	set = set.WithDefaults()
	k, err := Start(cfg.Kafka, set.Log)
	if err != nil {
		return nil, err
	}
	s := &Service{k: k}
	s.Server, err = service.New(service.Options{
		Name:     "kafka",
		Listen:   cfg.AdminListen,
		Ready:    s.ready,
		Shutdown: k.Close,
	}, set)
	if err != nil {
		_ = k.Close(context.Background())
		return nil, err
	}
	return s, nil
}

// Kafka returns the running cluster.
func (s *Service) Kafka() *Kafka { return s.k }

// Addrs returns the brokers' host:port addresses, to use as seed brokers.
func (s *Service) Addrs() []string { return s.k.Addrs() }

// ready is nil when every broker accepts a connection.
func (s *Service) ready(ctx context.Context) error {
	d := net.Dialer{Timeout: time.Second}
	for _, a := range s.k.Addrs() {
		c, err := d.DialContext(ctx, "tcp", a)
		if err != nil {
			return fmt.Errorf("broker %s does not accept connections: %w", a, err)
		}
		_ = c.Close()
	}
	return nil
}
