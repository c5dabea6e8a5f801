package sinkwriter

import (
	"github.com/ingestdev/ingest/internal/kafkaauth"

	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/tenant"
)

// Config configures the write path. The zero value of every field means its default (see
// DefaultConfig), except Brokers, which is required. Validate reports every problem at once,
// naming its key.
type Config struct {
	// Brokers are the seed brokers, host:port each. Required.
	Brokers []string `yaml:"brokers"`
	// Kafka secures the connection to the brokers: TLS and SASL (internal/kafkaauth). Zero:
	// plaintext, no authentication.
	Kafka kafkaauth.Config `yaml:"kafka"`
	// ClientID is the Kafka client id, visible in broker logs and quotas. Default
	// "ingest-sinkwriter".
	ClientID string `yaml:"client_id"`

	// TopicPattern names the topic of a tenant: "{tenant}" is replaced by the tenant id, and
	// must occur exactly once. Default "ingest.{tenant}". The loader consumes the topics that
	// match its own pattern (by default ^ingest\.): change both together. A pattern whose topics
	// could be named "ingest-deadletter" is refused, as the loader writes that one.
	TopicPattern string `yaml:"topic_pattern"`
	// DisableTopicCreation stops the writer from creating a tenant's topic on its first batch
	// (with kadm CreateTopics; an existing topic is fine). Set it where topics are provisioned
	// out of band and the writer has no CREATE permission. Default false: topics are created.
	DisableTopicCreation bool `yaml:"disable_topic_creation"`
	// TopicPartitions is the partition count of the topics the writer creates. Records are
	// keyed by event id, so a tenant's stream spreads over all of them. Default 6.
	TopicPartitions int32 `yaml:"topic_partitions"`
	// TopicReplicationFactor is the replication factor of the topics the writer creates.
	// Default 0: auto, picked from the number of live brokers when a topic is created: 3
	// (SafeReplicationFactor) on a cluster of 3 or more, so that acks=all (with
	// min.insync.replicas=2, see TopicConfigs) means two copies on different brokers; else the
	// broker count (1 or 2), with a warning logged once that acknowledged records are not safely
	// replicated. A positive value is used as it is; Kafka refuses one above its broker count.
	TopicReplicationFactor int16 `yaml:"topic_replication_factor"`
	// TopicConfigs are the topic configs of the topics the writer creates, such as
	// min.insync.replicas or retention.ms. Default none (the broker's defaults), except that a
	// topic created with a replication factor of 3 or more gets min.insync.replicas=2 unless
	// this sets it.
	TopicConfigs map[string]string `yaml:"topic_configs"`

	// Compression is the produce compression: zstd, lz4, snappy or none. Default snappy: on the
	// acknowledgement path (make bench-ack, OTLP logs) the sink writer spent 1.3 CPU-s per
	// million records with snappy, 1.6 with lz4 and 2.6 with zstd level 1, for 94, 95 and 79
	// bytes per record in Kafka; choose zstd where Kafka's disk or network costs more than the
	// producers' CPU.
	Compression string `yaml:"compression"`
	// CompressionLevel is the codec's level (zstd: 1 fastest .. 4 best; lz4: see pierrec/lz4).
	// Default 0: 1 for zstd (on telemetry within 3% of level 2's ratio at half its CPU, see
	// BENCHMARKS), the codec's own default for the others.
	CompressionLevel int `yaml:"compression_level"`
	// Linger is how long a partition waits for more records before a produce request is built.
	// Every batch waits for its acks, so linger adds to its latency; 1 ms lets one batch's
	// records (a thousand Produce calls take a few hundred µs) go out in one request, and under
	// load requests fill up while others are in flight anyway: in BenchmarkProducePath, 0 to
	// 20 ms cost the same CPU per record. Default 1 ms.
	Linger time.Duration `yaml:"linger"`
	// Producers is the number of Kafka clients (idempotent producers) batches are spread over,
	// round robin. franz-go builds and compresses the requests to one broker on one goroutine
	// per client, so one client compresses on one core at most; more clients use more cores.
	// Default: GOMAXPROCS, at most 8.
	Producers int `yaml:"producers"`
	// ProducerBatchMaxBytes bounds a Kafka record batch before compression; it must not exceed
	// the topic's max.message.bytes. Default 1,000,012 (Kafka's default).
	ProducerBatchMaxBytes int32 `yaml:"producer_batch_max_bytes"`

	// MaxBufferBytes bounds the batch bytes held by all batches in progress, from the request
	// body to the last ack. A batch that does not fit gets 429 err-ingest-sink-full.
	// Default 256 MiB.
	MaxBufferBytes int64 `yaml:"max_buffer_bytes"`
	// TenantShare is the fraction of MaxBufferBytes that one tenant's batches may hold; a batch
	// that would take its tenant over it gets 429 err-ingest-sink-tenant-share-full, while
	// other tenants still get in. In (0, 1]. Default 0.25.
	TenantShare float64 `yaml:"tenant_share"`
	// MaxBatchBytes bounds one batch (the request body). Larger batches get 413; it must fit in
	// a tenant's share. Default 64 MiB.
	MaxBatchBytes int64 `yaml:"max_batch_bytes"`
	// MaxRecordBytes bounds one encoded record; a batch holding a larger one gets 413 before
	// any of it is produced, as Kafka would refuse it for good. It must leave room for the key
	// and the batch overhead under ProducerBatchMaxBytes. Default 960 KiB.
	MaxRecordBytes int `yaml:"max_record_bytes"`

	// KafkaTimeout is how long Kafka may take to acknowledge every record of a batch, and to
	// create a topic; past it Kafka counts as unreachable: the batch gets 503
	// err-ingest-kafka-unavailable, and until Kafka answers a metadata request again new
	// batches get 503 at once. Default 10 s.
	KafkaTimeout time.Duration `yaml:"kafka_timeout"`
	// RetryAfterFull is the Retry-After of a 429. Default 1 s.
	RetryAfterFull time.Duration `yaml:"retry_after_full"`
	// RetryAfterUnavailable is the Retry-After of a 503. Default 5 s.
	RetryAfterUnavailable time.Duration `yaml:"retry_after_unavailable"`
}

// DeadLetterTopic is the topic the loader writes records it cannot load to. No tenant topic may
// have this name.
const DeadLetterTopic = "ingest-deadletter"

// DefaultConfig returns the defaults that a zero Config field stands for.
func DefaultConfig() Config {
	return Config{
		ClientID:               "ingest-sinkwriter",
		TopicPattern:           tenant.DefaultTopicPattern,
		TopicPartitions:        6,
		TopicReplicationFactor: 0, // auto: picked from the broker count (TopicReplication)
		Compression:            "snappy",
		Linger:                 time.Millisecond,
		ProducerBatchMaxBytes:  1_000_012,
		MaxBufferBytes:         256 << 20,
		TenantShare:            0.25,
		MaxBatchBytes:          64 << 20,
		MaxRecordBytes:         960 << 10,
		KafkaTimeout:           10 * time.Second,
		RetryAfterFull:         time.Second,
		RetryAfterUnavailable:  5 * time.Second,
	}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ClientID == "" {
		c.ClientID = d.ClientID
	}
	if c.TopicPattern == "" {
		c.TopicPattern = d.TopicPattern
	}
	if c.Compression == "" {
		c.Compression = d.Compression
	}
	config.Default(&c.TopicPartitions, d.TopicPartitions)
	config.Default(&c.Linger, d.Linger)
	config.Default(&c.Producers, min(runtime.GOMAXPROCS(0), 8))
	config.Default(&c.ProducerBatchMaxBytes, d.ProducerBatchMaxBytes)
	config.Default(&c.MaxBufferBytes, d.MaxBufferBytes)
	config.Default(&c.TenantShare, d.TenantShare)
	config.Default(&c.MaxBatchBytes, d.MaxBatchBytes)
	config.Default(&c.MaxRecordBytes, d.MaxRecordBytes)
	config.Default(&c.KafkaTimeout, d.KafkaTimeout)
	config.Default(&c.RetryAfterFull, d.RetryAfterFull)
	config.Default(&c.RetryAfterUnavailable, d.RetryAfterUnavailable)
	return c
}

// recordOverhead is what a record adds to a Kafka record batch besides its value: the batch
// header (61 bytes), the record's varint framing and fields (at most about 30 bytes) and the
// 16-byte key, rounded up.
const recordOverhead = 128

// Validate reports every field out of range at once, naming its key. Zero fields stand for
// their defaults and are checked as such.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if len(c.Brokers) == 0 {
		add("brokers", "at least one seed broker (host:port) is required")
	}
	if err := c.Kafka.Validate("kafka"); err != nil {
		errs = append(errs, err)
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			add("brokers", "%q is not host:port: %v", b, err)
		}
	}
	nonNegative := func(key string, ok bool, v any) {
		if !ok {
			add(key, "%v must not be negative (0 means the default)", v)
		}
	}
	nonNegative("topic_partitions", c.TopicPartitions >= 0, c.TopicPartitions)
	nonNegative("topic_replication_factor", c.TopicReplicationFactor >= 0, c.TopicReplicationFactor)
	nonNegative("compression_level", c.CompressionLevel >= 0, c.CompressionLevel)
	nonNegative("linger", c.Linger >= 0, c.Linger)
	nonNegative("producers", c.Producers >= 0, c.Producers)
	nonNegative("producer_batch_max_bytes", c.ProducerBatchMaxBytes >= 0, c.ProducerBatchMaxBytes)
	nonNegative("max_buffer_bytes", c.MaxBufferBytes >= 0, c.MaxBufferBytes)
	nonNegative("max_batch_bytes", c.MaxBatchBytes >= 0, c.MaxBatchBytes)
	nonNegative("max_record_bytes", c.MaxRecordBytes >= 0, c.MaxRecordBytes)
	nonNegative("kafka_timeout", c.KafkaTimeout >= 0, c.KafkaTimeout)
	nonNegative("retry_after_full", c.RetryAfterFull >= 0, c.RetryAfterFull)
	nonNegative("retry_after_unavailable", c.RetryAfterUnavailable >= 0, c.RetryAfterUnavailable)
	if c.TenantShare < 0 || c.TenantShare > 1 {
		add("tenant_share", "%v is not in (0, 1] (0 means the default)", c.TenantShare)
	}

	d := c.withDefaults()
	if err := checkTopicPattern(d.TopicPattern); err != nil {
		add("topic_pattern", "%v", err)
	}
	if _, err := compressionCodec(d.Compression, d.CompressionLevel); err != nil {
		add("compression", "%v", err)
	}
	if d.ProducerBatchMaxBytes > 0 && d.ProducerBatchMaxBytes < 512 {
		add("producer_batch_max_bytes", "%d is below franz-go's minimum of 512", d.ProducerBatchMaxBytes)
	}
	if d.MaxRecordBytes > 0 && int64(d.MaxRecordBytes)+recordOverhead > int64(d.ProducerBatchMaxBytes) {
		add("max_record_bytes", "%d plus %d bytes of key and batch overhead exceeds producer_batch_max_bytes %d",
			d.MaxRecordBytes, recordOverhead, d.ProducerBatchMaxBytes)
	}
	if c.TenantShare >= 0 && c.TenantShare <= 1 && d.MaxBatchBytes > d.tenantMaxBytes() {
		add("max_batch_bytes", "%d exceeds a tenant's share of the buffer, %d (max_buffer_bytes %d × tenant_share %v): such a batch could never be accepted",
			d.MaxBatchBytes, d.tenantMaxBytes(), d.MaxBufferBytes, d.TenantShare)
	}
	for k := range c.TopicConfigs {
		if k == "" {
			add("topic_configs", "a config name is empty")
		}
	}
	return errors.Join(errs...)
}

// tenantMaxBytes is the bound of one tenant's share of the buffer.
func (c Config) tenantMaxBytes() int64 {
	return int64(float64(c.MaxBufferBytes) * c.TenantShare)
}

// maxTopicLength is Kafka's bound on topic names.
const maxTopicLength = 249

// checkTopicPattern says whether every tenant id yields a legal topic name, distinct from the
// dead-letter topic.
func checkTopicPattern(p string) error {
	if strings.Count(p, tenant.Placeholder) != 1 {
		return fmt.Errorf("%q must contain %s exactly once", p, tenant.Placeholder)
	}
	fixed := strings.Replace(p, tenant.Placeholder, "", 1)
	for _, r := range fixed {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q has %q: Kafka topic names allow only ASCII letters, digits, '.', '_' and '-'", p, r)
		}
	}
	if n := len(fixed) + tenant.MaxLen; n > maxTopicLength {
		return fmt.Errorf("%q yields topic names of up to %d characters for %d-character tenant ids; Kafka allows %d",
			p, n, tenant.MaxLen, maxTopicLength)
	}
	if strings.HasSuffix(p, tenant.ShadowTopicSuffix) {
		return fmt.Errorf("%q ends with %q, the suffix of the tenants' shadow topics", p, tenant.ShadowTopicSuffix)
	}
	prefix, suffix, _ := strings.Cut(p, tenant.Placeholder)
	if strings.HasPrefix(DeadLetterTopic, prefix) && strings.HasSuffix(DeadLetterTopic, suffix) &&
		len(prefix)+len(suffix) < len(DeadLetterTopic) {
		id := DeadLetterTopic[len(prefix) : len(DeadLetterTopic)-len(suffix)]
		if tenant.Valid(id) {
			return fmt.Errorf("%q would name the topic of tenant %q %q, the loader's dead-letter topic", p, id, DeadLetterTopic)
		}
	}
	return nil
}

// compressionCodec returns the franz-go codec of a compression name.
func compressionCodec(name string, level int) (kgo.CompressionCodec, error) {
	var c kgo.CompressionCodec
	switch name {
	case "zstd":
		c = kgo.ZstdCompression()
		if level == 0 {
			level = 1 // zstd.SpeedFastest
		}
	case "lz4":
		c = kgo.Lz4Compression()
	case "snappy":
		c = kgo.SnappyCompression()
	case "none":
		return kgo.NoCompression(), nil
	default:
		return c, fmt.Errorf("unknown compression %q: use zstd, lz4, snappy or none", name)
	}
	if level > 0 {
		c = c.WithLevel(level)
	}
	return c, nil
}
