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
// again. The records a client sent twice (the same event id at two offsets) are two Kafka
// records: the ReplacingMergeTree tables fold them at merge time and queries read them once
// with FINAL. The metric roll-ups count them once too: `ingest loader` (Service) runs the
// roll-up worker of package sinkwriter/rollup beside the loader, which recomputes every closed
// window from metrics FINAL whenever a marker (written by a view within the INSERT) says its
// data changed. docs/sinkwriter.md has the full argument and the query paths.
//
// # A recreated topic
//
// The ledger is valid for one incarnation of a topic: a topic deleted and created again (or a
// wiped Kafka) restarts at offset 0. The loader records each topic's Kafka topic id in
// loader_topics before inserting its first rows, and checks it (incarnation.go) before taking
// the first record of a topic in a session and when a partition's offsets go back. A topic
// whose id changed (or, when the brokers give no id, whose high watermark is at or below the
// ledger) is held: paused, its records neither skipped nor committed, logged once, counted in
// ingest_loader_topic_incarnation_conflicts and reported by Ready (ErrTopicRecreated), while
// the other topics keep loading. Config.AcceptRecreatedTopics is the operator's way out: at
// start it deletes the held topic's ledger entries and records its new id.
//
// # Parts
//
// The loader is three parts, each with narrow seams so that it is tested without Kafka or
// ClickHouse (fakes of inserter, ledgerReader, deadLetterWriter, committer and groupClient):
//
//   - The consumer loop (consumer.go, commit.go): polls the group, applies rebalances
//     (a revocation drops everything held; an assignment starts a session), asks the ledger
//     which records to skip, hands the others to the flusher, flushes when the flusher is full
//     or due, and commits the offsets of everything processed after every successful flush,
//     never before. It backs off between failed attempts and lets rebalances through between
//     them.
//   - The ledger (ledger.go): reads the offsets ledger (highest offset per table, topic and
//     partition) once per session to decide skip or keep per record, and reads it again to
//     reconcile a batch after an INSERT attempt that failed but may have landed.
//   - The flusher (flusher.go, deadletter.go, insert.go, columns.go): buffers per table, says
//     when to flush (FlushRows of one table, FlushBytes of all, FlushInterval after the first
//     record), builds the columns, sends the three INSERTs concurrently, retries resumably,
//     bisects an INSERT refused for its data down to the rows at fault and dead-letters them.
//
// Loader (loader.go) wires them in Run; Ready (ready.go) reports whether the loader is in its
// consumer group and ClickHouse answers a ping.
//
// # Concurrency
//
// The consumer loop's goroutine owns the flusher, the ledger and the loop's own state; none of
// them has a lock. franz-go runs the group callbacks on its goroutines: they only set two flags
// under the consumer's step mutex, which the loop holds for every processing step (never while
// polling or sleeping), so a rebalance never runs in the middle of a flush attempt and takes
// effect between steps. The flusher's three INSERTs run on goroutines of their own, each on its
// own table's columns, and are waited for before the flush goes on. Ready is safe at any time:
// its state is an atomic (in the group) and a mutex-guarded cached ping.
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
//
// # Memory
//
// The live heap peaks at about 32 MiB + 5 × FlushBytes + (2 + r) × FetchMaxBytes per broker,
// r the topics' compression ratio (measured by TestLoaderMemoryDrainingABacklog; Config.FlushBytes
// says what each term holds). The records are kept as franz-go decoded them, aliasing its
// decompressed batches; FlushBytes counts each one's kgo.Record too, so it bounds what they
// hold. `ingest loader` sets the Go soft memory limit to Config.MemoryLimit (by default
// 64 MiB + 6 × FlushBytes + 6 × FetchMaxBytes), so that the heap does not grow to twice the live
// heap before a collection: the process stays within about 16 MiB of the limit.
package loader
