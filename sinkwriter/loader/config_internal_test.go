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

func TestRollupConfigDefaultsAndValidation(t *testing.T) {
	c := Config{Brokers: []string{"k:9092"}, ClickHouseAddr: []string{"c:9000"}, Database: "metrics_db", InsertTimeout: 20 * time.Second}
	rc := c.rollupConfig()
	if rc.Database != "metrics_db" || rc.Interval != 5*time.Second || rc.Delay != 10*time.Second || rc.Retention != 48*time.Hour || rc.Horizon != 30*time.Second {
		t.Errorf("rollupConfig = %+v, want the loader's database, the defaults and a horizon of insert_timeout + 10 s", rc)
	}
	c.Rollup = RollupConfig{Interval: -time.Second, Delay: -time.Second, Retention: time.Minute}
	err := c.Validate()
	for _, key := range []string{"rollup.interval:", "rollup.delay:", "rollup.retention:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate = %v, want it to name %s", err, key)
		}
	}
	if err != nil && strings.Contains(err.Error(), "rollup.database") {
		t.Errorf("Validate reports the database under rollup: %v", err)
	}
}
