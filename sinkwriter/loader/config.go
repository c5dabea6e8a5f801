package loader

import (
	"github.com/ingestdev/ingest/internal/kafkaauth"

	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/migration/report"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/rollup"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// Defaults that a zero Config field stands for.
const (
	DefaultGroup           = "ingest-loader"
	DefaultTopicRegex      = `^ingest\.[a-z0-9][a-z0-9-]*(\.shadow)?$`
	DefaultDeadLetterTopic = sinkwriter.DeadLetterTopic
	DefaultDatabase        = "ingest"
)

// Config configures the loader. The zero value of every field means its default (see
// DefaultConfig), except Brokers and ClickHouseAddr, which are required. Validate reports every
// problem at once, naming its key.
type Config struct {
	// Brokers are the Kafka seed brokers, host:port each. Required.
	Brokers []string `yaml:"brokers"`
	// Kafka secures the connection to the brokers: TLS and SASL (internal/kafkaauth). Zero:
	// plaintext, no authentication.
	Kafka kafkaauth.Config `yaml:"kafka"`
	// Group is the consumer group. Every loader process of one pipeline joins the same group;
	// Kafka spreads the partitions over them. Default "ingest-loader".
	Group string `yaml:"group"`
	// TopicRegex selects the tenant topics to consume (matched against whole names; new
	// matching topics are picked up within TopicRefreshInterval). It must not match
	// DeadLetterTopic. Records of a topic ending in ".shadow" (a tenant's shadow topic) go to
	// the shadow tables, all others to the live ones. Default ^ingest\.[a-z0-9][a-z0-9-]*(\.shadow)?$
	// (the write path's "ingest.{tenant}" and "ingest.{tenant}.shadow").
	TopicRegex string `yaml:"topic_regex"`
	// TopicRefreshInterval is how often topic metadata is refreshed, and so how soon a new
	// tenant topic is consumed. Default 30 s.
	TopicRefreshInterval time.Duration `yaml:"topic_refresh_interval"`
	// DeadLetterTopic receives the records that cannot be loaded, with their reason in headers.
	// It is created (one partition, replication factor DeadLetterReplicationFactor) when
	// missing. Default "ingest-deadletter".
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// DeadLetterReplicationFactor is the replication factor the dead-letter topic is created
	// with. Default 0: auto, like the sink writer's topic_replication_factor: 3 with
	// min.insync.replicas=2 on a cluster of 3 or more live brokers, else the broker count (1 or
	// 2) with a warning. -1 means the broker's default (default.replication.factor); a
	// positive value is used as it is, and Kafka refuses one above its broker count.
	DeadLetterReplicationFactor int16 `yaml:"dead_letter_replication_factor"`

	// ClickHouseAddr are the host:port addresses of ClickHouse's native protocol. Required.
	ClickHouseAddr []string `yaml:"clickhouse_addr"`
	// ClickHouseCluster is the ClickHouse cluster, as the servers' remote_servers name it, whose
	// replicas ClickHouseAddr lists (one shard, any number of replicas; ZooKeeper and the
	// {shard} and {replica} macros configured on every server). The migrations then run on every
	// replica (ON CLUSTER), every table is Replicated, and the query path's tables get a
	// Distributed table each, named with the suffix _all (logs_all: see schema.MigrateCluster).
	// The loader inserts into the local tables of the first address of ClickHouseAddr that
	// answers, and fails over to the next when it does not: list every replica, in the same
	// order for every loader. Exactly once holds through a replica's crash; see
	// docs/sinkwriter.md, "Replicated ClickHouse". A database created without a cluster cannot
	// be migrated with one (and the reverse is not supported). Default "": one server.
	ClickHouseCluster string `yaml:"clickhouse_cluster"`
	// Database is the ClickHouse database of the tables. Default "ingest".
	Database string `yaml:"database"`
	// Username and Password authenticate to ClickHouse. Default user "default", no password.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Compression is the ClickHouse wire compression: none or lz4. lz4 saves network at the
	// cost of CPU on both sides: use it when ClickHouse is not on the same host. Default none.
	Compression string `yaml:"compression"`
	// SkipMigrate stops the loader from applying schema migrations at start. Default false:
	// the loader migrates, as `ingest migrate` does.
	SkipMigrate bool `yaml:"skip_migrate"`

	// FlushRows flushes the buffers when one table has this many rows. It also bounds one
	// INSERT, which must stay a single block: keep it under ClickHouse's
	// min_insert_block_size_rows (1,048,576 by default). Default 50,000.
	FlushRows int `yaml:"flush_rows"`
	// FlushBytes flushes the buffers when the records they hold reach this many bytes (all
	// tables together), counting each record's key and value and the 168 bytes of its
	// kgo.Record and pointer. Default 64 MiB.
	//
	// Memory. FlushBytes, FetchMaxBytes and MemoryLimit bound the loader's memory. Measured
	// draining a backlog (TestLoaderMemoryDrainingABacklog: 256 MiB of mixed records, zstd at
	// a ratio of 4.2), the live heap peaks at
	//
	//	about 32 MiB + 5 × FlushBytes + (2 + r) × FetchMaxBytes × brokers
	//
	// where r is the topics' compression ratio and brokers the Kafka brokers leading the
	// partitions this loader consumes: per FlushBytes byte, the records themselves (1), their
	// columns (2: the strings are copied, each with a 16-byte position) and, while a flush
	// sends, the ClickHouse encoding buffers and the columns' growth (2); per broker, one
	// fetch response read and one buffered for polling, decompressed with its records'
	// structs (2 + r). Without a memory limit the Go collector lets the heap grow to twice
	// that (GOGC=100); MemoryLimit keeps the process within about 16 MiB of the limit.
	FlushBytes int `yaml:"flush_bytes"`
	// FlushInterval flushes the buffers at the latest this long after the first record
	// entered them. Default 1 s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// FlushIntervalMin is the shortest the flush interval adapts to. Between it and
	// FlushInterval, the loader lengthens the interval while each flush's oldest row is
	// visible well within VisibilityObjective (1 s) and shortens it when not: under load it
	// makes fewer, larger INSERTs, which cost ClickHouse less per row to insert and to merge;
	// the rows still become visible within the objective. A value at or above FlushInterval
	// keeps the interval fixed at FlushInterval. The current interval is exported as
	// ingest_loader_flush_interval_seconds. Default 100 ms.
	FlushIntervalMin time.Duration `yaml:"flush_interval_min"`
	// FetchMaxBytes bounds one Kafka fetch response, compressed. The client keeps one
	// response per broker buffered, decompressed, while the loader works on the previous one
	// (see FlushBytes). Default 4 MiB: a loader inserts a few MiB a second, so a larger fetch
	// does not load faster, but holds its size times the compression ratio per broker.
	FetchMaxBytes int32 `yaml:"fetch_max_bytes"`
	// MemoryLimit is the soft memory limit, in bytes, that `ingest loader` sets for its
	// process (runtime/debug.SetMemoryLimit): the garbage collector runs more often as the Go
	// runtime's memory nears it, rather than when the heap has doubled since the last
	// collection. Default 0: 64 MiB + 6 × FlushBytes + 6 × FetchMaxBytes (184 MiB with
	// flush_bytes 16 MiB, 472 MiB with the defaults), above the live heap measured with one
	// broker and a compression ratio up to 4 (see FlushBytes). -1: no limit. GOMEMLIMIT, when
	// set, wins. A limit below what the loader holds live does not stop it: the collector then
	// runs continuously, taking up to half the CPU, and the limit is exceeded; raise the limit
	// with more brokers or better-compressed topics.
	MemoryLimit int64 `yaml:"memory_limit"`

	// InsertTimeout bounds one INSERT attempt (prepare, send, acknowledgement). It must stay
	// well under RebalanceTimeout. Default 30 s.
	InsertTimeout time.Duration `yaml:"insert_timeout"`
	// RetryMin and RetryMax bound the exponential backoff between attempts of a failed INSERT,
	// ledger read or dead-letter produce; each wait is drawn with full jitter from
	// [RetryMin, min(RetryMax, RetryMin×2^attempt)]. Retries never stop while the error is
	// transient: ClickHouse down means the loader waits and consumption pauses. Defaults
	// 100 ms and 10 s.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// RebalanceTimeout is Kafka's rebalance.timeout.ms: how long a rebalance waits for this
	// member to finish its in-flight INSERT. Default 60 s.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// SessionTimeout is Kafka's session.timeout.ms: how long the group waits for a member that
	// stopped heartbeating (a killed loader) before moving its partitions. Default 45 s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// HeartbeatInterval is Kafka's heartbeat.interval.ms; at most a third of SessionTimeout.
	// Default 3 s.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// ShutdownTimeout bounds the final flush and offset commit when Run's context ends.
	// Default 10 s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	// AcceptRecreatedTopics names topics whose current incarnation the operator accepts: a
	// topic deleted and created again (a new Kafka topic id), or whose brokers were wiped,
	// starts again at offset 0, and the loader holds it (pauses it, logs an error, reports it in
	// Ready and ingest_loader_topic_incarnation_conflicts) rather than skip its records by the
	// old incarnation's offsets ledger. At start, before consuming, the loader accepts each
	// topic named here that is held for that reason: it deletes the topic's ledger entries and
	// records its current id, so that its records load from its first offset (the rows of the
	// old incarnation stay in the tables). A topic that is not in conflict is left alone, so
	// keeping a name here is harmless until that topic is recreated again: remove it once
	// accepted. Default none.
	AcceptRecreatedTopics []string `yaml:"accept_recreated_topics"`

	// Rollup is the metric roll-up worker that `ingest loader` runs beside the loader (see
	// package sinkwriter/rollup). The zero value runs it with its defaults.
	Rollup RollupConfig `yaml:"rollup"`

	// Report sends the rows ClickHouse acknowledged, per tenant and table set (live or
	// shadow), to the control plane's parity report stream. Zero: off.
	Report report.Config `yaml:"report"`
}

// RollupConfig configures the roll-up worker of `ingest loader`. The zero value of every field
// means its default.
type RollupConfig struct {
	// Disabled stops `ingest loader` from running the roll-up worker. Default false: it runs,
	// so the roll-ups are exact wherever a loader runs. One worker is enough; every loader
	// process running one is harmless (a recompute is idempotent).
	Disabled bool `yaml:"disabled"`
	// Interval is how often the worker reads new markers and recomputes closed windows.
	// Default 5 s.
	Interval time.Duration `yaml:"interval"`
	// Delay is how long after a minute ends its window is first recomputed. Default 10 s. A
	// 1m roll-up is final within delay + interval (plus the recompute's time) after its
	// minute ends, and recomputed within interval after any later change to its data.
	Delay time.Duration `yaml:"delay"`
	// Retention is how long the dirty-window markers are kept. Default 48 h; at least 1 h.
	Retention time.Duration `yaml:"retention"`
}

// rollupConfig returns the roll-up worker's configuration of c (after defaults): its
// database, and a horizon of insert_timeout plus 10 s (the longest an INSERT's markers take to
// become visible).
func (c Config) rollupConfig() rollup.Config {
	c = c.withDefaults()
	return rollup.Config{
		Database:  c.Database,
		Cluster:   c.ClickHouseCluster,
		Interval:  c.Rollup.Interval,
		Delay:     c.Rollup.Delay,
		Retention: c.Rollup.Retention,
		Horizon:   c.InsertTimeout + 10*time.Second,
	}.WithDefaults()
}

// DefaultConfig returns the defaults that a zero Config field stands for.
func DefaultConfig() Config {
	return Config{
		Group:                       DefaultGroup,
		TopicRegex:                  DefaultTopicRegex,
		TopicRefreshInterval:        30 * time.Second,
		DeadLetterTopic:             DefaultDeadLetterTopic,
		DeadLetterReplicationFactor: 0, // auto: picked from the broker count (sinkwriter.TopicReplication)
		Database:                    DefaultDatabase,
		Username:                    "default",
		Compression:                 "none",
		FlushRows:                   50_000,
		FlushBytes:                  64 << 20,
		FlushInterval:               time.Second,
		FlushIntervalMin:            100 * time.Millisecond,
		FetchMaxBytes:               4 << 20,
		InsertTimeout:               30 * time.Second,
		RetryMin:                    100 * time.Millisecond,
		RetryMax:                    10 * time.Second,
		RebalanceTimeout:            60 * time.Second,
		SessionTimeout:              45 * time.Second,
		HeartbeatInterval:           3 * time.Second,
		ShutdownTimeout:             10 * time.Second,
		Rollup:                      RollupConfig{Interval: rollup.DefaultInterval, Delay: rollup.DefaultDelay, Retention: rollup.DefaultRetention},
	}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	config.Default(&c.Group, d.Group)
	config.Default(&c.TopicRegex, d.TopicRegex)
	config.Default(&c.TopicRefreshInterval, d.TopicRefreshInterval)
	config.Default(&c.DeadLetterTopic, d.DeadLetterTopic)
	config.Default(&c.Database, d.Database)
	config.Default(&c.Username, d.Username)
	config.Default(&c.Compression, d.Compression)
	config.Default(&c.FlushRows, d.FlushRows)
	config.Default(&c.FlushBytes, d.FlushBytes)
	config.Default(&c.FlushInterval, d.FlushInterval)
	config.Default(&c.FlushIntervalMin, d.FlushIntervalMin)
	config.Default(&c.FetchMaxBytes, d.FetchMaxBytes)
	if c.MemoryLimit == 0 {
		c.MemoryLimit = defaultMemoryLimit(c.FlushBytes, c.FetchMaxBytes)
	}
	config.Default(&c.InsertTimeout, d.InsertTimeout)
	config.Default(&c.RetryMin, d.RetryMin)
	config.Default(&c.RetryMax, d.RetryMax)
	config.Default(&c.RebalanceTimeout, d.RebalanceTimeout)
	config.Default(&c.SessionTimeout, d.SessionTimeout)
	config.Default(&c.HeartbeatInterval, d.HeartbeatInterval)
	config.Default(&c.ShutdownTimeout, d.ShutdownTimeout)
	config.Default(&c.Rollup.Interval, d.Rollup.Interval)
	config.Default(&c.Rollup.Delay, d.Rollup.Delay)
	config.Default(&c.Rollup.Retention, d.Rollup.Retention)
	return c
}

// defaultMemoryLimit returns the default MemoryLimit for flushBytes and fetchMaxBytes.
func defaultMemoryLimit(flushBytes int, fetchMaxBytes int32) int64 {
	return 64<<20 + 6*int64(flushBytes) + 6*int64(fetchMaxBytes)
}

// maxFlushRows keeps one INSERT a single block on the server (see FlushRows).
const maxFlushRows = 1_000_000

// Validate reports every invalid field of c (after defaults), joined.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if len(c.Brokers) == 0 {
		bad("brokers", "at least one broker is required")
	}
	if err := c.Kafka.Validate("kafka"); err != nil {
		errs = append(errs, err)
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			bad("brokers", "%q is not host:port", b)
		}
	}
	re, err := regexp.Compile(c.TopicRegex)
	if err != nil {
		bad("topic_regex", "%q does not compile: %v", c.TopicRegex, err)
	} else if re.MatchString(c.DeadLetterTopic) {
		bad("topic_regex", "%q matches the dead-letter topic %q: the loader would consume what it dead-letters", c.TopicRegex, c.DeadLetterTopic)
	}
	for _, topic := range c.AcceptRecreatedTopics {
		if topic == "" || (re != nil && !re.MatchString(topic)) {
			bad("accept_recreated_topics", "%q is not a topic that topic_regex %q matches", topic, c.TopicRegex)
		}
	}
	if c.DeadLetterReplicationFactor < -1 {
		bad("dead_letter_replication_factor", "%d is not 0 (auto), -1 (broker default) or a positive count", c.DeadLetterReplicationFactor)
	}
	if len(c.ClickHouseAddr) == 0 {
		bad("clickhouse_addr", "at least one address is required")
	}
	for _, a := range c.ClickHouseAddr {
		if !strings.Contains(a, ":") {
			bad("clickhouse_addr", "%q is not host:port", a)
		}
	}
	if c.ClickHouseCluster != "" && !schema.ValidCluster(c.ClickHouseCluster) {
		bad("clickhouse_cluster", "%q is not a valid cluster name (^[A-Za-z_][A-Za-z0-9_-]*$)", c.ClickHouseCluster)
	}
	if !schema.ValidDatabase(c.Database) {
		bad("database", "%q is not a valid name (^[A-Za-z_][A-Za-z0-9_]*$)", c.Database)
	}
	if c.Compression != "none" && c.Compression != "lz4" {
		bad("compression", "%q is not none or lz4", c.Compression)
	}
	if c.FlushRows < 0 || c.FlushRows > maxFlushRows {
		bad("flush_rows", "%d is outside 1..%d (an INSERT must stay one server-side block)", c.FlushRows, maxFlushRows)
	}
	if c.FlushBytes < 0 {
		bad("flush_bytes", "%d is negative", c.FlushBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"topic_refresh_interval", c.TopicRefreshInterval}, {"flush_interval", c.FlushInterval}, {"flush_interval_min", c.FlushIntervalMin},
		{"insert_timeout", c.InsertTimeout}, {"retry_min", c.RetryMin}, {"retry_max", c.RetryMax},
		{"rebalance_timeout", c.RebalanceTimeout}, {"session_timeout", c.SessionTimeout},
		{"heartbeat_interval", c.HeartbeatInterval}, {"shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			bad(d.key, "%v is negative", d.v)
		}
	}
	if c.FetchMaxBytes < 0 {
		bad("fetch_max_bytes", "%d is negative", c.FetchMaxBytes)
	}
	if c.MemoryLimit < -1 {
		bad("memory_limit", "%d is not 0 (default), -1 (none) or a byte count", c.MemoryLimit)
	}
	if c.RetryMax < c.RetryMin {
		bad("retry_max", "%v is below retry_min %v", c.RetryMax, c.RetryMin)
	}
	if c.HeartbeatInterval*3 > c.SessionTimeout {
		bad("heartbeat_interval", "%v is more than a third of session_timeout %v", c.HeartbeatInterval, c.SessionTimeout)
	}
	if c.InsertTimeout >= c.RebalanceTimeout {
		bad("insert_timeout", "%v is not below rebalance_timeout %v: an INSERT in flight must end before the group moves its partitions", c.InsertTimeout, c.RebalanceTimeout)
	}
	rc := c.rollupConfig()
	rc.Database, rc.Horizon, rc.Cluster = rollup.DefaultDatabase, rollup.DefaultHorizon, "" // reported under database, insert_timeout and clickhouse_cluster
	if err := rc.Validate(); err != nil {
		errs = append(errs, config.Prefix("rollup", err))
	}
	if err := c.Report.Validate(); err != nil {
		errs = append(errs, config.Prefix("report", err))
	}
	return errors.Join(errs...)
}
