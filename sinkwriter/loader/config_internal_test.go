package loader

import (
	"strings"
	"testing"
	"time"
)

func TestValidateReportsEveryBadKey(t *testing.T) {
	err := Config{
		FlushRows: 2_000_000, Compression: "zstd", Database: "a-b", TopicRegex: "(",
		RetryMin: time.Second, RetryMax: time.Millisecond, InsertTimeout: time.Minute, RebalanceTimeout: time.Second,
		HeartbeatInterval: 20 * time.Second, SessionTimeout: 30 * time.Second,
	}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, key := range []string{"brokers", "clickhouse_addr", "flush_rows", "compression", "database", "topic_regex", "retry_max", "insert_timeout", "heartbeat_interval"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("Validate error does not name %s: %v", key, err)
		}
	}
	if err := (Config{Brokers: []string{"k:9092"}, ClickHouseAddr: []string{"c:9000"}, TopicRegex: "^ingest"}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "dead-letter") {
		t.Errorf("a regex that matches the dead-letter topic: Validate = %v", err)
	}
	if err := (Config{Brokers: []string{"k:9092"}, ClickHouseAddr: []string{"c:9000"}}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
