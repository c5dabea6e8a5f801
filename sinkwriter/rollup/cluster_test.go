package rollup_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/sinkwriter/rollup"
	"github.com/ingestdev/ingest/sinkwriter/rollup/rolluptest"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// TestWorkerOnAClusterWaitsUntilItsReplicaHoldsTheData inserts metrics on one replica while the
// other fetches none of their parts, so that the other has the roll-up markers (another table)
// but not the data they announce: a worker there must not recompute from what it lacks (a
// window computed then would stay wrong: no later marker comes for it). It waits, counted in
// ingest_rollup_replication_waits_total, and once the parts are fetched computes roll-ups equal
// to metrics FINAL. (INGEST_CHCLUSTER=1: see chtest.StartCluster.)
func TestWorkerOnAClusterWaitsUntilItsReplicaHoldsTheData(t *testing.T) {
	cl := chtest.StartCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r1, r2 := cl.Replicas[0].Conn(), cl.Replicas[1].Conn()
	if _, err := schema.MigrateCluster(ctx, r1, "ingest", chtest.ClusterName); err != nil {
		t.Fatal(err)
	}
	if err := r2.Exec(ctx, "SYSTEM STOP FETCHES ingest.metrics"); err != nil {
		t.Fatal(err)
	}
	pts := series(1, 40, base, 7*time.Second) // about 5 minutes
	insert(t, r1, "", "acme", pts...)
	if err := r2.Exec(ctx, "SYSTEM SYNC REPLICA ingest.metrics_windows"); err != nil {
		t.Fatal(err)
	}

	// The worker on r2, one connection, as `ingest loader` runs it on a cluster.
	opts := cl.Replicas[1].Options("")
	opts.MaxOpenConns, opts.ConnMaxLifetime = 1, time.Hour*24
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w, reg := newWorker(t, conn, rollup.Config{Cluster: chtest.ClusterName, Delay: time.Nanosecond})
	for range 3 {
		if err := w.Cycle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := testkit.MetricSum(t, reg, "ingest_rollup_replication_waits_total"); n < 3 {
		t.Errorf("ingest_rollup_replication_waits_total = %v after 3 cycles on a replica without the data, want 3", n)
	}
	if n := sumPoints(t, r2, "metrics_1m", "acme", base, base.Add(time.Hour)); n != 0 {
		t.Fatalf("the worker computed %d points from a replica that holds none of the data", n)
	}

	for _, q := range []string{"SYSTEM START FETCHES ingest.metrics", "SYSTEM SYNC REPLICA ingest.metrics"} {
		if err := r2.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	before := testkit.MetricSum(t, reg, "ingest_rollup_replication_waits_total")
	rolluptest.SettleWith(t, w, time.Minute)
	// The worker's own INSERTs make replication log entries its replica pulls a moment later:
	// the check waits for that instead of stopping a cycle after each recompute.
	if n := testkit.MetricSum(t, reg, "ingest_rollup_replication_waits_total") - before; n > 2 {
		t.Errorf("%v cycles stopped early while the replica held every part: the worker waits for its own writes", n)
	}
	if got := rolluptest.AssertExact(t, r2, "ingest", "", "acme"); got != uint64(len(pts)) {
		t.Errorf("the 1m roll-ups count %d points, want %d", got, len(pts))
	}
}

func TestConfigRefusesAnInvalidClusterName(t *testing.T) {
	if err := (rollup.Config{Cluster: "a b"}).Validate(); err == nil || !strings.Contains(err.Error(), "cluster:") {
		t.Errorf("Validate = %v, want an error naming cluster", err)
	}
	if err := (rollup.Config{Cluster: "c1"}).Validate(); err != nil {
		t.Errorf("Validate of a valid cluster: %v", err)
	}
}
