// Package schema is the ClickHouse schema of the pipeline as versioned migrations, and Migrate,
// which applies them.
//
// Migrations are SQL files embedded from migrations/, named NNNN_name.sql and applied in order
// of their version NNNN. Each applied migration is recorded in the table schema_migrations of
// the database (version, name, checksum, applied_at). Migrate is idempotent: it applies only
// what is not recorded yet, and every statement is written to be re-runnable (CREATE … IF NOT
// EXISTS; DROP TABLE IF EXISTS of derived tables only, as 0002 drops the old roll-ups; an
// INSERT of roll-up markers, which only makes the roll-up worker recompute again), so that a
// run interrupted halfway, or two loaders starting at once, leave a complete schema.
// A migration that was applied with another checksum (its file was edited after it shipped) is
// refused with ErrChecksumMismatch: ship a new migration instead.
//
// MigrateCluster applies the same migrations on every replica of a ClickHouse cluster of one
// shard: the files are the single server's, and OnCluster rewrites each statement as it runs
// (ON CLUSTER, Replicated engines on the ZooKeeper path /clickhouse/tables/{shard}/<db>/<table>,
// a Distributed table <table>_all for each table of the query path), so a file, and its
// checksum, never changes for a cluster. testdata/single.sql and testdata/cluster.sql hold every
// statement of both, compared by the tests.
//
// The SQL is kept to what both Debian's ClickHouse 18.16 and current releases accept. The tables
// and the exactly-once design they serve are documented in docs/sinkwriter.md ("Replicated
// ClickHouse" for a cluster).
package schema
