package rollup

import (
	"context"
	"fmt"
	"strings"

	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// replicatedTables are the Replicated tables a cycle reads, per table set: the markers, the
// data and the roll-ups (the 10m and 60m windows are recomputed from the 1m rows; tombstones
// read the level they write).
var replicatedTables = []string{"metrics_windows", "metrics", "metrics_1m", "metrics_10m", "metrics_60m"}

// replicaBehind returns "" when the replica the worker's connection reaches holds every part of
// the tables a cycle reads that any replica had committed to ZooKeeper when the check began,
// and has no mutation of them in progress; otherwise what it still lacks, for the log. It reads
// in two steps: first that the replica has pulled every entry of each table's replication log
// into its queue (log_pointer past log_max_index, or an empty log), then that its queue holds no
// part to fetch (inserts_in_queue) and that it is not read-only; a part committed before the
// first step is then local. An error is a failed read.
func (w *Worker) replicaBehind(ctx context.Context) (string, error) {
	var names []string
	for _, set := range schema.TableSets {
		for _, t := range replicatedTables {
			names = append(names, "'"+t+set+"'")
		}
	}
	in := "database = ? AND table IN (" + strings.Join(names, ", ") + ")"

	rows, err := w.conn.Query(ctx, "SELECT table, zookeeper_path, log_pointer, log_max_index FROM system.replicas WHERE "+in, w.cfg.Database)
	if err != nil {
		return "", fmt.Errorf("cannot read system.replicas: %w", err)
	}
	seen := 0
	var behind []string
	for rows.Next() {
		var (
			table, path          string
			pointer, maxLogIndex uint64
		)
		if err := rows.Scan(&table, &path, &pointer, &maxLogIndex); err != nil {
			rows.Close()
			return "", fmt.Errorf("cannot read system.replicas: %w", err)
		}
		seen++
		switch {
		case pointer > maxLogIndex:
		case pointer == 0 && maxLogIndex == 0: // no entry pulled yet: is the log empty?
			var n uint64
			if err := w.conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = ?", path+"/log").Scan(&n); err != nil {
				rows.Close()
				return "", fmt.Errorf("cannot read the replication log of %s: %w", table, err)
			}
			if n > 0 {
				behind = append(behind, table+": replication log not read yet")
			}
		default:
			behind = append(behind, fmt.Sprintf("%s: replication log read to %d of %d", table, pointer, maxLogIndex+1))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("cannot read system.replicas: %w", err)
	}
	if seen != len(names) {
		return "", fmt.Errorf("%d of the %d tables the roll-up worker reads are Replicated tables of database %q on this server: is the cluster option (%q) right?",
			seen, len(names), w.cfg.Database, w.cfg.Cluster)
	}
	if len(behind) > 0 {
		return strings.Join(behind, "; "), nil
	}

	var fetches, readonly, mutations uint64
	if err := w.conn.QueryRow(ctx, "SELECT toUInt64(sum(inserts_in_queue)), toUInt64(sum(is_readonly)) FROM system.replicas WHERE "+in, w.cfg.Database).Scan(&fetches, &readonly); err != nil {
		return "", fmt.Errorf("cannot read system.replicas: %w", err)
	}
	if err := w.conn.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE is_done = 0 AND "+in, w.cfg.Database).Scan(&mutations); err != nil {
		return "", fmt.Errorf("cannot read system.mutations: %w", err)
	}
	switch {
	case readonly > 0:
		return fmt.Sprintf("%d tables read-only (no ZooKeeper session)", readonly), nil
	case fetches > 0:
		return fmt.Sprintf("%d parts to fetch from other replicas", fetches), nil
	case mutations > 0:
		return fmt.Sprintf("%d mutations in progress", mutations), nil
	}
	return "", nil
}
