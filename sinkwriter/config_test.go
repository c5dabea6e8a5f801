package sinkwriter

import (
	"strings"
	"testing"
	"time"
)

func TestValidateNamesEveryKeyAtFault(t *testing.T) {
	cfg := Config{
		TopicPattern:           "ingest.{tenant}.{tenant}",
		TopicPartitions:        -1,
		TopicReplicationFactor: -1,
		Compression:            "brotli",
		Linger:                 -time.Second,
		MaxBufferBytes:         -1,
		TenantShare:            1.5,
		MaxRecordBytes:         -1,
		KafkaTimeout:           -1,
		RetryAfterFull:         -1,
		RetryAfterUnavailable:  -1,
	}
	err := cfg.Validate()
	for _, key := range []string{"brokers:", "topic_pattern:", "topic_partitions:", "topic_replication_factor:",
		"compression:", "linger:", "max_buffer_bytes:", "tenant_share:", "max_record_bytes:", "kafka_timeout:",
		"retry_after_full:", "retry_after_unavailable:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate = %v, want it to name %s", err, key)
		}
	}
}

func TestValidateChecksBoundsAgainstEachOther(t *testing.T) {
	f := func(name string, cfg Config, key string) {
		t.Helper()
		if cfg.Brokers == nil {
			cfg.Brokers = []string{"127.0.0.1:9092"}
		}
		err := cfg.Validate()
		if key == "" {
			if err != nil {
				t.Errorf("%s: Validate = %v, want nil", name, err)
			}
			return
		}
		if err == nil || !strings.HasPrefix(err.Error(), key+":") {
			t.Errorf("%s: Validate = %v, want an error for %s", name, err, key)
		}
	}
	f("defaults", Config{}, "")
	f("batch over a tenant's share", Config{MaxBufferBytes: 100 << 20, TenantShare: 0.1}, "max_batch_bytes")
	f("batch within a tenant's share", Config{MaxBufferBytes: 100 << 20, TenantShare: 0.1, MaxBatchBytes: 10 << 20}, "")
	f("record over the producer batch", Config{MaxRecordBytes: 2 << 20}, "max_record_bytes")
	f("broker without port", Config{Brokers: []string{"kafka"}}, "brokers")
	f("pattern without tenant", Config{TopicPattern: "ingest"}, "topic_pattern")
	f("pattern with a slash", Config{TopicPattern: "ingest/{tenant}"}, "topic_pattern")
	f("pattern naming the dead-letter topic", Config{TopicPattern: "ingest-{tenant}"}, "topic_pattern")
	f("pattern too long", Config{TopicPattern: strings.Repeat("x", 200) + "{tenant}"}, "topic_pattern")
	f("lz4", Config{Compression: "lz4"}, "")
}

// The tenant id rule and Topic are tested in internal/tenant.

func TestBufferBoundsTenantsAndTotal(t *testing.T) {
	b := newBuffer(100, 40)
	if _, err := b.reserve("a", 40); err != nil {
		t.Fatal(err)
	}
	if reason, err := b.reserve("a", 1); reason != ReasonTenantShareFull || err == nil {
		t.Errorf("a over its share: %q, %v", reason, err)
	}
	for _, tenant := range []string{"b", "c"} {
		if _, err := b.reserve(tenant, 30); err != nil {
			t.Fatal(err)
		}
	}
	if reason, err := b.reserve("d", 1); reason != ReasonSinkFull || err == nil {
		t.Errorf("d with the buffer full: %q, %v", reason, err)
	}
	b.release("a", 40)
	if _, err := b.reserve("d", 40); err != nil {
		t.Errorf("d after a released: %v", err)
	}
	if got := b.tenantBytes("a"); got != 0 {
		t.Errorf("a holds %d after releasing everything", got)
	}
	if got := b.used.Load(); got != 100 {
		t.Errorf("used = %d, want 100", got)
	}
}
