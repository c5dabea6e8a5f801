// Package loader is the loader: the Kafka consumer group that loads the tenant topics into
// ClickHouse, each record exactly once, and dead-letters what cannot be loaded.
//
// It runs as its own process (`ingest loader`) so that it can be scaled, restarted and killed
// apart from the write path: Kafka is the buffer between them.
//
// # Data flow
//
// One consumer group (default "ingest-loader") consumes every topic matching TopicRegex with an
// eager balancer and rebalances blocked while records are processed (kgo.BlockRebalanceOnPoll).
// Each Kafka record's value is one encoded record (package record); its signal routes it to the
// logs, metrics or spans table. Buffers are flushed when a table has FlushRows rows, when all of
// them hold FlushBytes, or FlushInterval after the first record arrived: one INSERT per table
// (a clickhouse-go native batch naming every column, sent as one block), then the offsets of
// everything processed are committed. Offsets are committed only after ClickHouse acknowledged
// every INSERT they cover.
//
// # Exactly once
//
// Every row carries kafka_topic, kafka_partition and kafka_offset. A materialized view per table
// writes, from every inserted block, the highest offset per partition into the ledger table
// loader_offsets, within the same INSERT; a block is applied whole or not at all when the
// client dies. So the ledger says exactly which records each table holds, whatever happened to
// the loader and to its offset commits. When a partition is assigned the loader reads the
// ledger and skips, per table, every record at or below the table's ledger offset; after a
// failed INSERT attempt (which may have landed) it reconciles with the ledger before trying
// again. Roll-up views, which fire on insert, therefore see every Kafka record once. The
// records a client sent twice (the same event id at two offsets) are two Kafka records: the
// ReplacingMergeTree tables fold them at merge time and queries read them once with FINAL; the
// roll-ups count them twice. docs/sinkwriter.md has the full argument and the query path.
//
// # Failures
//
// ClickHouse down or slow: the flush is retried with exponential backoff and jitter
// (RetryMin..RetryMax), never dropped; consumption pauses meanwhile (no poll while a flush is
// pending), so memory stays bounded by FlushBytes and the fetch buffers. Between attempts a
// pending rebalance is let through. A record whose value is not a record this loader reads, or
// whose row ClickHouse refuses for a data reason (found by bisecting the INSERT), goes to the
// dead-letter topic with headers reason, error, source_topic, source_partition, source_offset
// and table, is counted, and its partition keeps flowing. The dead-letter topic is at least
// once: a record may be dead-lettered again after a crash.
package loader
