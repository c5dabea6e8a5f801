package rollup

import (
	"context"
	"errors"
	"fmt"

	"github.com/ingestdev/ingest/internal/chreplica"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// replicatedTables are the Replicated tables a cycle reads, per table set: the markers, the
// data and the roll-ups (the 10m and 60m windows are recomputed from the 1m rows; tombstones
// read the level they write).
var replicatedTables = []string{"metrics_windows", "metrics", "metrics_1m", "metrics_10m", "metrics_60m"}

// replicaBehind returns "" when the replica the worker's connection reaches holds every part of
// the tables a cycle reads that any replica had committed to ZooKeeper when the check began,
// and has no mutation of them in progress; otherwise what it still lacks, for the log
// (chreplica.Behind). An error is a failed read.
func (w *Worker) replicaBehind(ctx context.Context) (string, error) {
	var names []string
	for _, set := range schema.TableSets {
		for _, t := range replicatedTables {
			names = append(names, t+set)
		}
	}
	behind, err := chreplica.Behind(ctx, w.conn, w.cfg.Database, names)
	if errors.Is(err, chreplica.ErrNotReplicated) {
		return "", fmt.Errorf("%w: is the cluster option (%q) right?", err, w.cfg.Cluster)
	}
	return behind, err
}
