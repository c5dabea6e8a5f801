package rollup

import (
	"errors"
	"fmt"
	"time"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// Defaults that a zero Config field stands for.
const (
	DefaultDatabase  = "ingest"
	DefaultInterval  = 5 * time.Second
	DefaultDelay     = 10 * time.Second
	DefaultRetention = 48 * time.Hour
	DefaultHorizon   = 40 * time.Second
)

// Config configures a Worker. The zero value of every field means its default; Validate
// reports every problem at once, naming its key.
type Config struct {
	// Database is the ClickHouse database of the tables. Default "ingest".
	Database string `yaml:"database"`
	// Interval is how often the worker reads new markers and recomputes the closed windows
	// they name. Default 5 s.
	Interval time.Duration `yaml:"interval"`
	// Delay is how long after a minute ends its 1m window is recomputed for the first time:
	// data of that minute that lands within Delay is in the first result without a second
	// recompute. Later data is counted too, by a recompute within Interval of its landing.
	// Default 10 s; 0 means the default (use 1 ns for no delay).
	Delay time.Duration `yaml:"delay"`
	// Retention is how long markers are kept: their daily partitions older than Retention
	// (and older than the worker's cursor) are dropped. A worker stopped for longer than
	// Retention misses the markers dropped meanwhile. Default 48 h.
	Retention time.Duration `yaml:"retention"`
	// Horizon is how long after its inserted_at a marker may become visible: the longest
	// INSERT into metrics (the loader's insert_timeout) plus a margin. Every read of markers
	// starts Horizon before the previous read's server time, so that a marker of a slow INSERT
	// is not missed. Default 40 s (the loader's default insert_timeout of 30 s plus 10 s; the
	// loader sets it to its insert_timeout plus 10 s).
	Horizon time.Duration `yaml:"horizon"`
	// Cluster is the ClickHouse cluster whose replica the worker's connection reaches (see
	// schema.MigrateCluster); empty: one server. With a cluster the worker reads and writes the
	// local Replicated tables of the replica its connection reaches, and runs a cycle only while
	// that replica holds every part the other replicas committed (see the package
	// documentation, "Replicated tables"): give it a connection pool of one connection
	// (MaxOpenConns 1) without a lifetime (ConnMaxLifetime), so that a cycle's reads and
	// writes reach one replica, the one its checks were made on. Default "".
	Cluster string `yaml:"cluster"`
}

// DefaultConfig returns the defaults that a zero Config field stands for.
func DefaultConfig() Config {
	return Config{Database: DefaultDatabase, Interval: DefaultInterval, Delay: DefaultDelay, Retention: DefaultRetention, Horizon: DefaultHorizon}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	config.Default(&c.Database, d.Database)
	config.Default(&c.Interval, d.Interval)
	config.Default(&c.Delay, d.Delay)
	config.Default(&c.Retention, d.Retention)
	config.Default(&c.Horizon, d.Horizon)
	return c
}

// Validate reports every invalid field of c (after defaults), joined.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if !schema.ValidDatabase(c.Database) {
		errs = append(errs, fmt.Errorf("database: %q is not a valid name (^[A-Za-z_][A-Za-z0-9_]*$)", c.Database))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"interval", c.Interval}, {"delay", c.Delay}, {"retention", c.Retention}, {"horizon", c.Horizon}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %v is negative", d.key, d.v))
		}
	}
	if c.Cluster != "" && !schema.ValidCluster(c.Cluster) {
		errs = append(errs, fmt.Errorf("cluster: %q is not a valid name (^[A-Za-z_][A-Za-z0-9_-]*$)", c.Cluster))
	}
	if c.Retention > 0 && c.Retention < time.Hour {
		errs = append(errs, fmt.Errorf("retention: %v is under the minimum of 1h (markers must outlive a restart of the worker)", c.Retention))
	}
	if c.Horizon > 0 && c.Horizon < time.Second {
		errs = append(errs, fmt.Errorf("horizon: %v is under the minimum of 1s (markers are stamped in whole seconds)", c.Horizon))
	}
	return errors.Join(errs...)
}
