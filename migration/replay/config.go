package replay

import (
	"github.com/ingestdev/ingest/internal/kafkaauth"

	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/tenant"
)

// Config configures replays: where they read (Kafka) and how fast. ClickHouse (where they
// write) is the control plane's clickhouse section. The zero value of every field means its
// default (DefaultConfig).
type Config struct {
	// Brokers are the Kafka bootstrap brokers of the tenant topics. Empty: replay is off
	// (the /v1/replays routes answer 501 not_configured).
	Brokers []string `yaml:"brokers"`
	// Kafka secures the connection to the brokers: TLS and SASL (internal/kafkaauth). Zero:
	// plaintext, no authentication.
	Kafka kafkaauth.Config `yaml:"kafka"`
	// TopicPattern names a tenant's topic, as the sink writer's topic_pattern does ("{tenant}"
	// is replaced by the tenant id). Default "ingest.{tenant}".
	TopicPattern string `yaml:"topic_pattern"`
	// Rate is the default throttle of a run, records per second (a plan may set its own).
	// The default keeps the live path's p95 send → visible at its usual value during the
	// standard scenario on the 2-core reference machine (BENCHMARKS.md, "Replay"): raise it
	// when the cluster has room (--rate per plan). Default 5,000.
	Rate int `yaml:"rate"`
	// FlushRows is how many rows of one table a run inserts at once. Default 50,000.
	FlushRows int `yaml:"flush_rows"`
	// FlushInterval bounds how long a run holds rows before inserting them. Default 1 s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// InsertTimeout bounds one INSERT of a run. Default 30 s.
	InsertTimeout time.Duration `yaml:"insert_timeout"`
	// RequestTimeout bounds a plan, diff, promote or discard (reading Kafka's offsets and the
	// planned records, or the ClickHouse queries). Default 5 m.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// DeadLetterTopic is the loaders' dead-letter topic, which /v1/deadletters lists and
	// re-drives (with the same brokers). Default "ingest-deadletter".
	DeadLetterTopic string `yaml:"deadletter_topic"`
}

// DefaultConfig returns the defaults of the zero fields.
func DefaultConfig() Config {
	return Config{
		TopicPattern:    tenant.DefaultTopicPattern,
		Rate:            5_000,
		FlushRows:       50_000,
		FlushInterval:   time.Second,
		InsertTimeout:   30 * time.Second,
		RequestTimeout:  5 * time.Minute,
		DeadLetterTopic: "ingest-deadletter",
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	config.Default(&c.TopicPattern, d.TopicPattern)
	config.Default(&c.Rate, d.Rate)
	config.Default(&c.DeadLetterTopic, d.DeadLetterTopic)
	config.Default(&c.FlushRows, d.FlushRows)
	config.Default(&c.FlushInterval, d.FlushInterval)
	config.Default(&c.InsertTimeout, d.InsertTimeout)
	config.Default(&c.RequestTimeout, d.RequestTimeout)
	return c
}

// Enabled reports whether replay is configured (it has brokers).
func (c Config) Enabled() bool { return len(c.Brokers) > 0 }

// Validate reports every field out of range at once, naming its YAML key under "replay.".
func (c Config) Validate() error {
	var errs []error
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("replay.brokers: %q is not host:port: %w", b, err))
		}
	}
	if err := c.Kafka.Validate("replay.kafka"); err != nil {
		errs = append(errs, err)
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("replay.rate: %d must not be negative (0 means the default)", c.Rate))
	}
	if c.FlushRows < 0 || c.FlushRows > 1_000_000 {
		errs = append(errs, fmt.Errorf("replay.flush_rows: %d is outside 0..1,000,000", c.FlushRows))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"flush_interval", c.FlushInterval}, {"insert_timeout", c.InsertTimeout}, {"request_timeout", c.RequestTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("replay.%s: %s must not be negative (0 means the default)", d.key, d.v))
		}
	}
	return errors.Join(errs...)
}
