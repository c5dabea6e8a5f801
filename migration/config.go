package migration

import (
	"errors"
	"fmt"
	"time"
)

// Config configures the Aggregator and the gate. The zero value of every field means its
// default (see DefaultConfig); Validate reports every problem at once.
type Config struct {
	// BucketWidth is the width of one parity bucket (a row of the parity table). Reports are
	// bucketed by their End. Default 1 minute; at least 1 second.
	BucketWidth time.Duration `yaml:"bucket_width"`
	// History is how long buckets are kept; older ones are forgotten, and reports ending
	// before it are refused as stale. Default 2 hours; at least the gate window plus two
	// buckets.
	History time.Duration `yaml:"history"`
	// LandingLag is how long after an edge counts an event the loader typically reports it
	// landed (Kafka, batching, the ClickHouse insert). Landed counts are bucketed by their
	// report's End minus LandingLag, and a bucket is complete, so the gate may use it, only
	// LandingLag after its end. Default 10 s; 0 keeps the default, negative is invalid.
	LandingLag time.Duration `yaml:"landing_lag"`
	// MaxTenants bounds the tenants tracked at once; counts of further tenants are dropped
	// (and counted) until one leaves the shadow or canary stage. Default 10,000.
	MaxTenants int `yaml:"max_tenants"`
	// MaxInstances bounds the reporter instances remembered for deduplication; a report of a
	// new instance beyond it is refused (and counted). Instances silent for History are
	// forgotten. Default 10,000.
	MaxInstances int `yaml:"max_instances"`
	// Gate is the parity gate.
	Gate GateConfig `yaml:"gate"`
}

// GateConfig is the parity gate: when a tenant may leave shadow or canary forward.
type GateConfig struct {
	// Window is how much complete parity, since the stage was entered, the gate needs: its
	// last Window/BucketWidth complete buckets must all be observed. Default 10 minutes.
	Window time.Duration `yaml:"window"`
	// MinLandedPercent is the smallest share, in percent, of the expected events that must
	// have landed on the v2 side over the window. Default 99.9.
	MinLandedPercent float64 `yaml:"min_landed_percent"`
	// MaxServerErrors is how many 5xx answers of ingest-v2 the window may hold. Default 0;
	// since 0 means the default, -1 also means none and a positive value allows that many.
	MaxServerErrors int64 `yaml:"max_server_errors"`
}

// DefaultConfig returns the defaults that a zero Config field stands for.
func DefaultConfig() Config {
	return Config{
		BucketWidth:  time.Minute,
		History:      2 * time.Hour,
		LandingLag:   10 * time.Second,
		MaxTenants:   10000,
		MaxInstances: 10000,
		Gate: GateConfig{
			Window:           10 * time.Minute,
			MinLandedPercent: 99.9,
		},
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.BucketWidth == 0 {
		c.BucketWidth = d.BucketWidth
	}
	if c.History == 0 {
		c.History = d.History
	}
	if c.LandingLag == 0 {
		c.LandingLag = d.LandingLag
	}
	if c.MaxTenants == 0 {
		c.MaxTenants = d.MaxTenants
	}
	if c.MaxInstances == 0 {
		c.MaxInstances = d.MaxInstances
	}
	if c.Gate.Window == 0 {
		c.Gate.Window = d.Gate.Window
	}
	if c.Gate.MinLandedPercent == 0 {
		c.Gate.MinLandedPercent = d.Gate.MinLandedPercent
	}
	if c.Gate.MaxServerErrors < 0 {
		c.Gate.MaxServerErrors = 0
	}
	return c
}

// Validate reports every field out of range at once, naming its key. Zero fields are valid.
func (c Config) Validate() error {
	var errs []error
	d := c.WithDefaults()
	if c.BucketWidth < 0 || (c.BucketWidth > 0 && c.BucketWidth < time.Second) {
		errs = append(errs, fmt.Errorf("bucket_width: %s must be at least 1s", c.BucketWidth))
	}
	if c.LandingLag < 0 {
		errs = append(errs, fmt.Errorf("landing_lag: %s must not be negative", c.LandingLag))
	} else if d.LandingLag >= d.BucketWidth*10 {
		errs = append(errs, fmt.Errorf("landing_lag: %s must be less than ten buckets (%s)", d.LandingLag, d.BucketWidth*10))
	}
	if c.MaxTenants < 0 {
		errs = append(errs, fmt.Errorf("max_tenants: %d must not be negative", c.MaxTenants))
	}
	if c.MaxInstances < 0 {
		errs = append(errs, fmt.Errorf("max_instances: %d must not be negative", c.MaxInstances))
	}
	if c.Gate.Window < 0 {
		errs = append(errs, fmt.Errorf("gate.window: %s must not be negative", c.Gate.Window))
	} else if d.BucketWidth > 0 && d.Gate.Window%d.BucketWidth != 0 {
		errs = append(errs, fmt.Errorf("gate.window: %s must be a multiple of bucket_width %s", d.Gate.Window, d.BucketWidth))
	}
	if c.Gate.MinLandedPercent < 0 || c.Gate.MinLandedPercent > 100 {
		errs = append(errs, fmt.Errorf("gate.min_landed_percent: %g must be from 0 to 100", c.Gate.MinLandedPercent))
	}
	if c.Gate.MaxServerErrors < -1 {
		errs = append(errs, fmt.Errorf("gate.max_server_errors: %d must be -1 (none), 0 (the default: none) or positive", c.Gate.MaxServerErrors))
	}
	if c.History < 0 {
		errs = append(errs, fmt.Errorf("history: %s must not be negative", c.History))
	} else if d.BucketWidth >= time.Second && d.History < d.Gate.Window+2*d.BucketWidth+d.LandingLag {
		errs = append(errs, fmt.Errorf("history: %s must be at least gate.window + 2 buckets + landing_lag (%s)", d.History, d.Gate.Window+2*d.BucketWidth+d.LandingLag))
	}
	return errors.Join(errs...)
}

// windowBuckets is the number of buckets the gate needs.
func (c Config) windowBuckets() int { return int(c.Gate.Window / c.BucketWidth) }
