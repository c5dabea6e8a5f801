// Package rollup is the metric roll-up worker: it keeps metrics_1m, metrics_10m and
// metrics_60m (and their _shadow twins) equal to a fresh aggregation of the deduplicated data,
// `metrics FINAL`, by recomputing every window whose data changed once the window is closed.
//
// # Contract
//
// For every tenant, series and window, a roll-up row read through the query path
//
//	SELECT … FROM ingest.metrics_1m FINAL WHERE tenant = … AND points > 0
//
// equals the aggregation of `metrics FINAL` over that window: points = count(), value_sum,
// value_min, value_max = sum/min/max(value), value_last = argMax(value, time_unix_nano) (with
// last_time_unix_nano its time), dist_count and dist_sum = sum(dist_count), sum(dist_sum).
// Windows are UTC-aligned (10m and 60m windows start at multiples of 600 and 3600 s). A record
// present at several Kafka offsets (a client retry, a producer retry, a loader re-insert, a
// replay promote) is one row of `metrics FINAL` and so counts once in every roll-up.
//
// Freshness: a 1m window is recomputed within Delay + Interval (plus the recompute's own time)
// after its minute ends, and again within Interval (plus the recompute's time) after any later
// change to its data lands (late data, a promote; a delete once it is marked with Mark). Its
// 10m and 60m windows are recomputed in the same cycle, right after it. So with the defaults
// (Delay 10 s, Interval 5 s) a 1m roll-up is final about 15 s after its minute ends, for data
// that landed by then. A window still open, or whose recompute failed, shows its previous
// state meanwhile (or nothing).
//
// # Mechanism
//
//   - Markers. One materialized view per table set, metrics_windows{set}_mv, writes from every
//     block inserted into metrics{set} one row per (tenant, minute, Kafka topic, partition) into
//     metrics_windows{set}, stamped inserted_at = the server's now(). The view runs within the
//     INSERT, after the block is written to metrics{set}: a marker is never missing for data
//     that landed (a loader killed with -9 included), and is visible only after its data is.
//     INSERT … SELECT (a replay promote) fires it too; a DELETE mutation does not: call Mark.
//   - Reading. Every Interval the worker reads, per table set, the markers with inserted_at at
//     or after its read start, on the server's clock. A marker may become visible up to the
//     longest INSERT after its inserted_at (Horizon, the loader's insert_timeout plus 10 s), so
//     each read starts Horizon before the server time of the previous read; markers seen
//     already (compared whole) are skipped, so each marker is processed once in a worker's
//     life. Each new marker makes its (tenant, minute) dirty.
//   - Recompute. A dirty minute is recomputed once closed (minute end + Delay on the server's
//     clock); until then it stays pending. Consecutive closed dirty minutes of one tenant are
//     recomputed as one range (at most a day) by one `INSERT INTO metrics_1m{set} … SELECT …
//     FROM metrics{set} FINAL WHERE tenant = ? AND time >= … AND time < … GROUP BY …` (the
//     only filters on the FINAL read are sort-key columns, so FINAL sees every version of a
//     row). Then series the range had before and no longer has get a tombstone: a row with
//     points = 0 and the new version, for every row of the range whose newest version is older
//     than the recompute's and not a tombstone. Then the enclosing 10m and 60m windows are
//     recomputed the same way from the 1m rows (sum of points and sums, min of mins, max of
//     maxes, argMax(value_last, last_time_unix_nano)), with their tombstones. The roll-up
//     tables are ReplacingMergeTree(version); a version is the worker's clock in ns, taken
//     before the recompute's read, so a later version always comes from a later read (on one
//     clock). No client data is sent: 18.16 cannot take INSERT … VALUES through clickhouse-go.
//   - Cursor. The worker persists, per table set, in rollup_state, the earliest inserted_at a
//     restarted worker must read from: its read start, or the earliest marker behind a window
//     still dirty (open, or failed), whichever is first. A restarted worker resumes there, so
//     it misses nothing and re-reads only the markers since (recomputing a window again is
//     harmless).
//   - Retention. Once an hour the worker drops the daily marker partitions older than
//     Retention and than its cursor minus Horizon (ALTER TABLE … DROP PARTITION).
//
// # Failures and concurrency
//
// Every error is logged (once per outage), counted in ingest_rollup_errors_total and retried
// at the next cycle; nothing is fatal after New: ClickHouse down means the worker waits, and a
// window whose recompute failed stays dirty. Before the database records migration
// SchemaVersion the worker waits for it. One worker (one `ingest loader` process) is enough;
// several are harmless: each reads every marker and a recompute is idempotent, the newest
// version of a row winning. The Worker's methods are safe for concurrent use; cycles never
// overlap.
//
// # Replicated tables
//
// With Config.Cluster the tables are Replicated (see schema.MigrateCluster) and the worker reads
// and writes the local tables of the replica its connection reaches. Markers and data are
// different tables, replicated independently, so a replica can hold a marker before the data it
// announces, and a window recomputed then would stay wrong. So before it reads markers (then its
// next read may start Horizon before the server time, as on one server) and before each
// recompute statement, the worker checks its replica: in system.replicas, every entry of the
// replication log of each table it reads pulled into the queue (log_pointer past log_max_index,
// or an empty log), then no part left to fetch (inserts_in_queue) and not read-only; in
// system.mutations, none in progress. It waits up to a second for the replica to get there
// (its own INSERTs make log entries the replica pulls a moment later); a replica still behind
// stops the cycle there (counted in ingest_rollup_replication_waits_total; logged when the wait
// begins and ends), and the windows left stay dirty for the next cycle. While a replica that died holds parts the others lack, the
// worker waits for it to come back. Its connection pool must hold one connection without a
// lifetime, so that a statement reaches the replica its check was made on (a broken connection
// fails the statement that uses it; a new one is checked first).
//
// # Limits
//
//   - A marker that becomes visible more than Horizon after its inserted_at (an INSERT that
//     took longer than the loader's insert_timeout plus 10 s on the server) can be missed; the
//     window is then fixed by the next change to it.
//   - A worker stopped for longer than Retention misses the markers dropped meanwhile (another
//     running worker keeps the roll-ups right).
//   - The worker holds every dirty window in memory (about 100 bytes each): the first run after
//     migration 0002 holds one per (tenant, minute) of the whole history, briefly.
//   - Ties of time_unix_nano within a series make value_last one of the tied values.
//   - On a cluster: a replica killed between committing a metrics block and its marker leaves
//     the block, retried and deduplicated on another replica, without a marker (its window is
//     stale until its next change, as after a server crash between the two on one server); a
//     delete marked with Mark on one replica can be recomputed on another before that one has
//     pulled the mutation; and the replicas' clocks must agree within the Horizon's margin.
package rollup
