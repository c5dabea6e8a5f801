// Package embedkafka runs an embedded Kafka for local use and tests: franz-go's kfake, with its
// log in a data directory so that what it acknowledged survives a restart.
//
// # Durability
//
// kfake appends every produced record batch to the partition's segment file (and its index)
// with write system calls before it answers the produce request. So:
//
//   - Without SyncWrites (the default), an acknowledged batch is in the operating system's page
//     cache: a crash of the process (kill -9, panic, OOM kill) loses nothing acknowledged, as
//     the kernel still writes the page cache out; a crash of the machine (power loss, kernel
//     panic) may lose what was acknowledged in the last half minute or so. kfake never fsyncs
//     segments in this mode (not when it rolls a segment, not at shutdown: its SyncWrites doc
//     comment says otherwise, its code does not); the kernel writes dirty pages back on its own
//     schedule (Linux: after vm.dirty_expire_centisecs, 30 s by default). Close therefore
//     fsyncs every file of the data directory after kfake stopped, so that a clean shutdown
//     is durable against a later machine crash.
//   - With SyncWrites, kfake fsyncs the segment and its index after every batch, before the
//     ack: an acknowledged batch survives a machine crash too, at the cost of an fsync per
//     batch per partition in each produce request (the producer puts many records in a batch,
//     so it is not one per record).
//
// Topic metadata (topics.json) is written with a temporary file, fsync and rename whenever a
// topic is created or changed, in both modes, so a topic that was produced to is known after a
// restart. Consumer group offsets and idempotent producer state are appended to logs (fsynced
// per entry only with SyncWrites) and snapshotted at a clean shutdown.
//
// At start kfake reloads the directory: it scans the segments, and a torn batch at the end of a
// segment (a crash in the middle of a write, which was never acknowledged) is truncated.
//
// Only one process may use a data directory at a time: Start takes an exclusive lock on it.
package embedkafka
