// Package chreplica checks that the ClickHouse replica a connection reaches holds what the other
// replicas of its shard committed, before a component reads its local Replicated tables: the
// roll-up worker (sinkwriter/rollup) before it recomputes, replay (migration/replay) before a
// diff or promote, the control plane before it counts or clears shadow rows. It also waits for a
// mutation submitted on a Replicated table, which a replica lists only once it has loaded it from
// ZooKeeper. Every query is valid on ClickHouse 18.16 and current servers.
package chreplica
