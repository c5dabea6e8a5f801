package normalizer

import (
	"errors"
	"fmt"
	"time"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/record"
)

// Config configures the normalizer. The zero value of every field means its default (see
// DefaultConfig); Validate reports every field that is out of range.
type Config struct {
	// MaxBodyBytes bounds the request body as sent (compressed or not). Larger bodies get 413.
	// Default 8 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxDecompressedBytes bounds a gzip body after decompression; decompression stops at the
	// bound, so a gzip bomb never allocates past it. Larger bodies get 413. Default 64 MiB.
	MaxDecompressedBytes int64 `yaml:"max_decompressed_bytes"`
	// MaxEventsPerRequest bounds the events (log records, data points, spans, NDJSON lines) of
	// one request. Larger requests get 413 and should be split. Default 100,000.
	MaxEventsPerRequest int `yaml:"max_events_per_request"`
	// MaxAttributes bounds the attributes of one event, and separately those of its resource.
	// An event over it is rejected. Default 128.
	MaxAttributes int `yaml:"max_attributes"`
	// MaxAttributeKeyBytes bounds an attribute key. Default 256.
	MaxAttributeKeyBytes int `yaml:"max_attribute_key_bytes"`
	// MaxAttributeValueBytes bounds an attribute value as rendered (nested values as JSON).
	// Default 16 KiB.
	MaxAttributeValueBytes int `yaml:"max_attribute_value_bytes"`
	// MaxNameBytes bounds a metric, span or event name. Default 1 KiB.
	MaxNameBytes int `yaml:"max_name_bytes"`
	// MaxLogBodyBytes bounds a log body as rendered. Default 256 KiB.
	MaxLogBodyBytes int `yaml:"max_log_body_bytes"`
	// MaxRecordBytes bounds an event as encoded into its record (record.Append: what the sink
	// writer's max_record_bytes bounds), whatever the limits above allow one by one; a larger
	// event is rejected with err-ingest-event-too-large and the rest of the request accepted.
	// It must not exceed the sink writer's max_record_bytes, or the sink writer refuses the
	// whole batch (413, answered 503) and the client retries it for ever; nor
	// record.MaxRecordSize (16 MiB), which Validate checks. Default 960 KiB, the sink
	// writer's default.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// MaxPast is how far before the time of receipt an event's timestamp may be. Default 7 days.
	MaxPast time.Duration `yaml:"max_past"`
	// MaxFuture is how far after the time of receipt an event's timestamp may be. Default 10 min.
	MaxFuture time.Duration `yaml:"max_future"`
	// SinkTimeout bounds one Sink.Write; past it the request gets 503. Default 15 s: longer than
	// the sink writer's kafka_timeout (10 s), so that the writer's own answer reaches the client.
	SinkTimeout time.Duration `yaml:"sink_timeout"`
	// MaxInflightBytes bounds the request bytes (raw plus decompressed) held by all requests in
	// progress. A request that would exceed it gets 429 with Retry-After. Default 256 MiB.
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
	// TenantShare is the fraction of MaxInflightBytes that one tenant's requests may hold
	// together; a request that would take its tenant over it gets 429
	// err-ingest-normalizer-tenant-share-full with Retry-After, while other tenants still get
	// in (invariant 3). A tenant whose other requests hold nothing is bounded by
	// MaxInflightBytes only, so that a request within max_body_bytes and
	// max_decompressed_bytes is never refused for ever by a small share. In (0, 1]; 1 bounds a
	// tenant by MaxInflightBytes only. Default 0.25 (the sink writer's tenant_share).
	TenantShare float64 `yaml:"tenant_share"`
	// MaxRejectionsInMessage bounds how many rejections an OTLP partial_success error_message
	// spells out (all are counted). Default 10.
	MaxRejectionsInMessage int `yaml:"max_rejections_in_message"`
	// MaxRejectionsInResponse bounds how many rejections the answer to an NDJSON request lists
	// in "errors", the first ones by line; "rejected" still counts them all and
	// "errors_omitted" says how many were left out. Default 1,000; 0 means the default.
	MaxRejectionsInResponse int `yaml:"max_rejections_in_response"`
}

// DefaultConfig returns the defaults that a zero Config field stands for.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:            8 << 20,
		MaxDecompressedBytes:    64 << 20,
		MaxEventsPerRequest:     100_000,
		MaxAttributes:           128,
		MaxAttributeKeyBytes:    256,
		MaxAttributeValueBytes:  16 << 10,
		MaxNameBytes:            1 << 10,
		MaxLogBodyBytes:         256 << 10,
		MaxRecordBytes:          960 << 10,
		MaxPast:                 7 * 24 * time.Hour,
		MaxFuture:               10 * time.Minute,
		SinkTimeout:             15 * time.Second,
		MaxInflightBytes:        256 << 20,
		TenantShare:             0.25,
		MaxRejectionsInMessage:  10,
		MaxRejectionsInResponse: 1_000,
	}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	config.Default(&c.MaxBodyBytes, d.MaxBodyBytes)
	config.Default(&c.MaxDecompressedBytes, d.MaxDecompressedBytes)
	config.Default(&c.MaxEventsPerRequest, d.MaxEventsPerRequest)
	config.Default(&c.MaxAttributes, d.MaxAttributes)
	config.Default(&c.MaxAttributeKeyBytes, d.MaxAttributeKeyBytes)
	config.Default(&c.MaxAttributeValueBytes, d.MaxAttributeValueBytes)
	config.Default(&c.MaxNameBytes, d.MaxNameBytes)
	config.Default(&c.MaxLogBodyBytes, d.MaxLogBodyBytes)
	config.Default(&c.MaxRecordBytes, d.MaxRecordBytes)
	config.Default(&c.MaxPast, d.MaxPast)
	config.Default(&c.MaxFuture, d.MaxFuture)
	config.Default(&c.SinkTimeout, d.SinkTimeout)
	config.Default(&c.MaxInflightBytes, d.MaxInflightBytes)
	config.Default(&c.TenantShare, d.TenantShare)
	config.Default(&c.MaxRejectionsInMessage, d.MaxRejectionsInMessage)
	config.Default(&c.MaxRejectionsInResponse, d.MaxRejectionsInResponse)
	return c
}

// Validate reports every field out of range at once, naming its key.
func (c Config) Validate() error {
	var errs []error
	check := func(key string, ok bool, v any) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %v must not be negative (0 means the default)", key, v))
		}
	}
	check("max_body_bytes", c.MaxBodyBytes >= 0, c.MaxBodyBytes)
	check("max_decompressed_bytes", c.MaxDecompressedBytes >= 0, c.MaxDecompressedBytes)
	check("max_events_per_request", c.MaxEventsPerRequest >= 0, c.MaxEventsPerRequest)
	check("max_attributes", c.MaxAttributes >= 0, c.MaxAttributes)
	check("max_attribute_key_bytes", c.MaxAttributeKeyBytes >= 0, c.MaxAttributeKeyBytes)
	check("max_attribute_value_bytes", c.MaxAttributeValueBytes >= 0, c.MaxAttributeValueBytes)
	check("max_name_bytes", c.MaxNameBytes >= 0, c.MaxNameBytes)
	check("max_log_body_bytes", c.MaxLogBodyBytes >= 0, c.MaxLogBodyBytes)
	check("max_record_bytes", c.MaxRecordBytes >= 0, c.MaxRecordBytes)
	check("max_past", c.MaxPast >= 0, c.MaxPast)
	check("max_future", c.MaxFuture >= 0, c.MaxFuture)
	check("sink_timeout", c.SinkTimeout >= 0, c.SinkTimeout)
	check("max_inflight_bytes", c.MaxInflightBytes >= 0, c.MaxInflightBytes)
	check("max_rejections_in_message", c.MaxRejectionsInMessage >= 0, c.MaxRejectionsInMessage)
	check("max_rejections_in_response", c.MaxRejectionsInResponse >= 0, c.MaxRejectionsInResponse)
	if !(c.TenantShare >= 0 && c.TenantShare <= 1) {
		errs = append(errs, fmt.Errorf("tenant_share: %v is not in (0, 1] (0 means the default)", c.TenantShare))
	}
	if c.MaxDecompressedBytes > 0 && c.MaxBodyBytes > c.MaxDecompressedBytes {
		errs = append(errs, fmt.Errorf("max_decompressed_bytes: %d is below max_body_bytes %d", c.MaxDecompressedBytes, c.MaxBodyBytes))
	}
	if c.MaxRecordBytes > record.MaxRecordSize {
		errs = append(errs, fmt.Errorf("max_record_bytes: %d exceeds the %d bytes a record frame can hold", c.MaxRecordBytes, record.MaxRecordSize))
	}
	return errors.Join(errs...)
}
