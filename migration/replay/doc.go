// Package replay re-ingests a window of one tenant's Kafka topic into tables of its own,
// compares them with the live tables, and, when an operator says so, makes live equal them.
// The control plane (controlplane/api, /v1/replays) is its front end and runs its Manager;
// ingestctl replay is the operator's. docs/replay.md is the operator's view.
//
// # Contract
//
//   - Plan reads Kafka's offsets and the planned records' headers, and writes nothing but the
//     persisted plan. A window is [from, to) per partition, from inclusive, to exclusive; a
//     window outside what Kafka holds, reversed or empty, an unknown partition or a tenant
//     without a topic is refused with an *Error whose message names the valid range.
//   - A run reads exactly the planned ranges by direct partition assignment (no consumer
//     group: no group's offsets are read or committed) and writes only the job's tables
//     (<table>_replay_<id>, created AS the live tables, each with the offsets-ledger view),
//     through the loader's own row code (loader.Rows), throttled to the plan's rate.
//   - Each planned record is in the job's tables exactly once, whatever stops the run: a
//     checkpoint (next offset per partition) is saved after every acknowledged flush, and a
//     resumed run skips what the ledger (written in the same INSERT as the rows) shows loaded.
//   - Diff and promote compare the tenant's rows of the planned offsets, read with FINAL, on
//     both sides. Promote applies only the change it showed (its fingerprint), only when the
//     live loader has loaded the whole window, and afterwards the tenant's rows of the planned
//     offsets in live, read with FINAL, equal the replayed rows; nothing else is touched.
//   - On a replicated cluster (Options.Cluster: one shard of Replicated tables) the job's tables
//     are created and dropped ON CLUSTER, each Replicated at a ZooKeeper path of its own with the
//     live table's engine, and diff and promote read and write the local tables of the replica
//     Conn reaches, once it holds what the other replicas committed (internal/chreplica); an
//     empty Cluster runs the single server's SQL unchanged.
//
// # Parts
//
// plan.go (offsets, checks, header scan), worker.go (the run: read, buffer, insert, checkpoint,
// throttle, progress), tables.go (the job's tables, the ledger, the SQL scope and row hash),
// diff.go, promote.go, manager.go (states, persistence through a Store, Run, Cancel, Discard).
//
// # Concurrency
//
// Every Manager method is safe for concurrent use. The Manager's mutex guards job state
// transitions and the set of runs, so that a job cannot be started twice or promoted and
// discarded at once; each run's goroutine owns its job until it ends and publishes progress
// under the run's own mutex; Run waits for every run to stop before it returns.
package replay
