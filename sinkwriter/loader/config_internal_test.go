package loader

import (
	"runtime/debug"
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

func TestMemoryLimitDefaultsFromFlushAndFetchBytesAndRefusesBelowMinusOne(t *testing.T) {
	c := Config{FlushBytes: 16 << 20}.withDefaults()
	if want := int64(64<<20 + 6*(16<<20) + 6*(4<<20)); c.MemoryLimit != want {
		t.Errorf("default memory_limit with flush_bytes 16 MiB = %d, want %d (64 MiB + 6 × flush_bytes + 6 × fetch_max_bytes)", c.MemoryLimit, want)
	}
	if c := (Config{MemoryLimit: -1}).withDefaults(); c.MemoryLimit != -1 {
		t.Errorf("memory_limit -1 became %d, want -1 (none)", c.MemoryLimit)
	}
	err := Config{Brokers: []string{"k:9092"}, ClickHouseAddr: []string{"c:9000"}, MemoryLimit: -2}.Validate()
	if err == nil || !strings.Contains(err.Error(), "memory_limit:") {
		t.Errorf("memory_limit -2: Validate = %v, want it to name memory_limit", err)
	}
}

func TestSetMemoryLimitSetsAndRestoresUnlessOffOrGOMEMLIMIT(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	restore := setMemoryLimit(200<<20, discardLogger())
	if got := debug.SetMemoryLimit(-1); got != 200<<20 {
		t.Errorf("limit = %d, want 200 MiB", got)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Errorf("after restore limit = %d, want %d", got, prev)
	}
	setMemoryLimit(-1, discardLogger())()
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Errorf("memory_limit -1 changed the limit to %d", got)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	defer setMemoryLimit(100<<20, discardLogger())()
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Errorf("with GOMEMLIMIT set, the limit became %d", got)
	}
}
