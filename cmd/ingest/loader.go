package main

import (
	"flag"
	"os"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// loaderFlags binds the flags of `ingest loader`: the consumer group that loads the tenant
// topics into ClickHouse (migrating the schema first), with /healthz, /readyz and /metrics on
// --listen.
func loaderFlags(fs *flag.FlagSet, cfg *loader.ServiceConfig) {
	clickHouseFlags(fs, cfg)
	l := &cfg.Loader
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address of /healthz, /readyz and /metrics; none for no listener")
	config.ListVar(fs, &l.Brokers, "brokers", "Kafka seed brokers, comma-separated host:port")
	fs.StringVar(&l.Compression, "compression", l.Compression, "ClickHouse wire compression: none or lz4")
	fs.BoolVar(&l.SkipMigrate, "skip-migrate", l.SkipMigrate, "do not apply schema migrations at start")
	fs.StringVar(&l.Group, "group", l.Group, "Kafka consumer group")
	fs.StringVar(&l.TopicRegex, "topic-regex", l.TopicRegex, "tenant topics to consume")
	fs.DurationVar(&l.TopicRefreshInterval, "topic-refresh-interval", l.TopicRefreshInterval, "how soon new tenant topics are consumed")
	fs.StringVar(&l.DeadLetterTopic, "dead-letter-topic", l.DeadLetterTopic, "topic of the records that cannot be loaded")
	fs.IntVar(&l.FlushRows, "flush-rows", l.FlushRows, "flush when a table has this many rows")
	fs.IntVar(&l.FlushBytes, "flush-bytes", l.FlushBytes, "flush when the buffers hold this many record bytes")
	fs.DurationVar(&l.FlushInterval, "flush-interval", l.FlushInterval, "flush at the latest this long after the first buffered record")
	fs.DurationVar(&l.FlushIntervalMin, "flush-interval-min", l.FlushIntervalMin, "the shortest the adaptive flush interval gets (at or above --flush-interval: fixed)")
	fs.DurationVar(&l.InsertTimeout, "insert-timeout", l.InsertTimeout, "deadline of one INSERT attempt")
	fs.DurationVar(&l.RetryMin, "retry-min", l.RetryMin, "shortest backoff between attempts")
	fs.DurationVar(&l.RetryMax, "retry-max", l.RetryMax, "longest backoff between attempts")
	fs.DurationVar(&l.SessionTimeout, "session-timeout", l.SessionTimeout, "Kafka group session timeout: how soon a dead loader's partitions move")
	fs.DurationVar(&l.HeartbeatInterval, "heartbeat-interval", l.HeartbeatInterval, "Kafka group heartbeat interval (at most a third of --session-timeout)")
	fs.DurationVar(&l.RebalanceTimeout, "rebalance-timeout", l.RebalanceTimeout, "Kafka group rebalance timeout (above --insert-timeout)")
	fs.DurationVar(&l.ShutdownTimeout, "shutdown-timeout", l.ShutdownTimeout, "deadline of the last flush at shutdown")
	config.ListVar(fs, &l.AcceptRecreatedTopics, "accept-recreated-topic",
		"topics, comma-separated, whose recreated incarnation (new topic id) the loader holds: forget their offsets ledger and load them from their first offset; remove once accepted")
	fs.BoolVar(&l.Rollup.Disabled, "rollup-disabled", l.Rollup.Disabled, "do not run the metric roll-up worker (one loader running it is enough)")
	fs.DurationVar(&l.Rollup.Interval, "rollup-interval", l.Rollup.Interval, "how often the roll-up worker recomputes the windows whose data changed")
	fs.DurationVar(&l.Rollup.Delay, "rollup-delay", l.Rollup.Delay, "how long after a minute ends its roll-ups are first computed")
	fs.DurationVar(&l.Rollup.Retention, "rollup-retention", l.Rollup.Retention, "how long the roll-up worker keeps its dirty-window markers")
}

// loaderDefaults returns the loader's configuration with the password from the environment
// (a file's loader.password overrides it, a flag nothing): the defaults of `ingest loader`
// and `ingest migrate`.
func loaderDefaults() loader.ServiceConfig {
	cfg := loader.DefaultServiceConfig()
	cfg.Loader.Password = os.Getenv(loader.PasswordEnv)
	return cfg
}

// clickHouseFlags binds the ClickHouse flags `ingest loader` and `ingest migrate` share.
func clickHouseFlags(fs *flag.FlagSet, cfg *loader.ServiceConfig) {
	l := &cfg.Loader
	config.ListVar(fs, &l.ClickHouseAddr, "clickhouse", "ClickHouse native-protocol addresses, comma-separated host:port")
	fs.StringVar(&l.ClickHouseCluster, "clickhouse-cluster", l.ClickHouseCluster,
		"ClickHouse cluster (remote_servers name) whose replicas --clickhouse lists: Replicated tables, DDL ON CLUSTER, reads through <table>_all; empty: one server")
	fs.StringVar(&l.Database, "database", l.Database, "ClickHouse database of the tables (created and migrated at start)")
	fs.StringVar(&l.Username, "username", l.Username, "ClickHouse user (the password comes from "+loader.PasswordEnv+" or the file's loader.password)")
}
