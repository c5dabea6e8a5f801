package loader_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// TestReplicatedClickHouseKill9OfAReplicaLosesAndDoublesNothing loads a stream of records into a
// cluster of two ClickHouse replicas (one shard, a private ZooKeeper) and kills the replica the
// loader inserts into with SIGKILL in the middle of it. The loader must fail over to the other
// replica and load everything produced meanwhile — its offsets committed while the killed
// replica is still down — and, once that replica is back and the replicas are in sync, every
// record whose offset was committed must be there exactly once through the documented query
// path (the Distributed tables, <table>_all FINAL), and without FINAL too: the blocks the killed
// replica took but did not acknowledge are inserted again on the other one with the same bytes,
// which ReplicatedMergeTree deduplicates.
//
// It fails for a loader that does not fail over (it waits for the killed replica: no commit
// covers the records produced while it is down), for a read path that doubles rows (two
// shards, or a Distributed table over both replicas as shards: the counts double), and for
// records lost or inserted twice.
//
// It runs only with INGEST_CHCLUSTER=1 (make test-chcluster; see chtest.StartCluster), in
// about 25 s.
func TestReplicatedClickHouseKill9OfAReplicaLosesAndDoublesNothing(t *testing.T) {
	began := time.Now()
	const (
		topic      = "ingest.acme"
		partitions = 4
		batch      = 200                   // records per produce round, over the partitions
		pause      = 40 * time.Millisecond // between rounds: about 5,000 records a second
	)
	cl := chtest.StartCluster(t, 2)
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	adm := kadm.NewClient(prod)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	r1, r2 := cl.Replicas[0], cl.Replicas[1]
	if _, err := schema.MigrateCluster(ctx, r1.Conn(), "ingest", chtest.ClusterName); err != nil {
		t.Fatal(err)
	}
	// On r1 only: every INSERT sleeps 0.5 s after its block is written and committed to
	// ZooKeeper, before the ledger view writes (views run in name order) and before the
	// acknowledgement. A kill during an INSERT then lands there: the block is r1's and known to
	// ZooKeeper, the loader has no answer and no ledger entry, and inserts it again on r2.
	for _, tbl := range []string{"logs", "metrics", "spans"} {
		if err := r1.Conn().Exec(ctx, "CREATE MATERIALIZED VIEW ingest.a_slow_"+tbl+" ENGINE = Null AS SELECT sleep(0.5) AS s FROM ingest."+tbl); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("cluster started and migrated in %v", time.Since(began).Round(100*time.Millisecond))

	cfg := testConfig(kf.ListenAddrs(), cl.Addrs()...) // r1 first: the loader inserts there until it dies
	cfg.ClickHouseCluster = chtest.ClusterName
	reg := prometheus.NewRegistry()
	l, err := loader.New(cfg, reg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	lctx, stopLoader := context.WithCancel(context.Background())
	loaded := make(chan error, 1)
	go func() { loaded <- l.Run(lctx) }()
	defer stopLoader()

	// The producer: rounds of mixed records until stopped; produced counts what Kafka
	// acknowledged, per table.
	p := &produced{table: map[string]uint64{}}
	var (
		next     atomic.Int64 // the next record number
		stopProd = make(chan struct{})
		prodDone sync.WaitGroup
	)
	prodDone.Add(1)
	go func() {
		defer prodDone.Done()
		for {
			select {
			case <-stopProd:
				return
			case <-time.After(pause):
			}
			krs := make([]*kgo.Record, 0, batch)
			var sigs []record.Signal
			for range batch {
				j := int(next.Add(1) - 1)
				sig := []record.Signal{record.SignalLog, record.SignalMetric, record.SignalSpan}[j%3]
				r := makeRecord("acme", sig, j)
				krs = append(krs, &kgo.Record{Topic: topic, Partition: int32(j % partitions), Key: r.EventID[:], Value: record.Append(nil, r)})
				sigs = append(sigs, sig)
			}
			pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
			err := prod.ProduceSync(pctx, krs...).FirstErr()
			pcancel()
			if err != nil {
				t.Errorf("cannot produce: %v", err)
				return
			}
			for _, s := range sigs {
				p.add(s)
			}
		}
	}()
	var stopOnce sync.Once
	stopProducing := func() {
		stopOnce.Do(func() { close(stopProd) })
		prodDone.Wait()
	}
	t.Cleanup(stopProducing) // before the producer closes, on a failure too

	// committed returns the group's committed offset of every partition (absent: none).
	committed := func() map[int32]int64 {
		offs, err := adm.FetchOffsets(ctx, loader.DefaultGroup)
		if err != nil {
			return nil
		}
		out := map[int32]int64{}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic && o.Err == nil {
				out[o.Partition] = o.At
			}
		})
		return out
	}
	// waitCommitted waits until the committed offsets reach the end offsets read at the call.
	waitCommitted := func(what string, timeout time.Duration) map[int32]int64 {
		t.Helper()
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(timeout)
		for {
			c := committed()
			behind := int64(0)
			ends.Each(func(o kadm.ListedOffset) { behind += max(o.Offset-c[o.Partition], 0) })
			if behind == 0 {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d records produced before the wait are not committed after %v", what, behind, timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	total := func(c map[int32]int64) (n int64) {
		for _, o := range c {
			n += o
		}
		return n
	}

	// 1. Load into r1 for a while.
	time.Sleep(3 * time.Second)
	before := waitCommitted("before the kill", time.Minute)

	// 2. Kill r1 during an INSERT while records keep coming: the loader fails over to r2 and
	// loads everything produced from here on while r1 is down.
	waitInsertRunning(t, r1.Conn())
	killedAt := time.Now()
	r1.Kill()
	time.Sleep(5 * time.Second)
	during := waitCommitted("with r1 killed (does the loader fail over?)", time.Minute)
	failover := time.Since(killedAt)
	visible := countOn(t, r2.Conn(), "SELECT count() FROM ingest.%s_all FINAL")

	// 3. Bring r1 back (the parts only it holds come back with it: an INSERT is acknowledged
	// once one replica has it), load a little more, stop producing and drain.
	r1.Restart()
	time.Sleep(2 * time.Second)
	stopProducing()
	final := waitCommitted("after r1 is back", time.Minute)
	stopLoader()
	if err := <-loaded; err != nil {
		t.Errorf("Run: %v", err)
	}

	// 4. Both replicas in sync, then through each replica's Distributed tables: every committed
	// offset once, nothing doubled.
	for _, r := range cl.Replicas {
		for _, tbl := range []string{"logs", "metrics", "spans", "loader_offsets"} {
			if err := r.Conn().Exec(ctx, "SYSTEM SYNC REPLICA ingest."+tbl); err != nil {
				t.Fatalf("SYSTEM SYNC REPLICA ingest.%s on %s: %v", tbl, r.Addr(), err)
			}
		}
	}
	want := map[string]uint64{"logs": p.get("logs"), "metrics": p.get("metrics"), "spans": p.get("spans")}
	if sum := want["logs"] + want["metrics"] + want["spans"]; int64(sum) != total(final) {
		t.Fatalf("%d records produced and acknowledged, %d committed: the drain did not commit everything", sum, total(final))
	}
	for i, r := range cl.Replicas {
		conn := r.Conn()
		finalRows := countOn(t, conn, "SELECT count() FROM ingest.%s_all FINAL")
		rows := countOn(t, conn, "SELECT count() FROM ingest.%s_all")
		offsets := countOn(t, conn, "SELECT uniqExact(kafka_partition, kafka_offset) FROM ingest.%s_all")
		for _, tbl := range []string{"logs", "metrics", "spans"} {
			if finalRows[tbl] != want[tbl] || rows[tbl] != want[tbl] || offsets[tbl] != want[tbl] {
				t.Errorf("r%d: %s_all holds %d rows with FINAL, %d without, %d distinct offsets; want %d committed records once",
					i+1, tbl, finalRows[tbl], rows[tbl], offsets[tbl], want[tbl])
			}
		}
		// Per partition, the offsets the three tables hold are exactly 0 … committed-1.
		for part, c := range final {
			var n, hi uint64
			q := "SELECT count(), toUInt64(max(kafka_offset) + 1) FROM (SELECT kafka_offset FROM ingest.logs_all WHERE kafka_partition = ? " +
				"UNION ALL SELECT kafka_offset FROM ingest.metrics_all WHERE kafka_partition = ? UNION ALL SELECT kafka_offset FROM ingest.spans_all WHERE kafka_partition = ?)"
			if err := conn.QueryRow(ctx, q, part, part, part).Scan(&n, &hi); err != nil {
				t.Fatal(err)
			}
			if int64(n) != c || int64(hi) != c {
				t.Errorf("r%d: partition %d: %d rows up to offset %d, want offsets 0 … %d once each", i+1, part, n, int64(hi)-1, c-1)
			}
		}
	}
	retries := testkit.MetricSum(t, reg, "ingest_loader_insert_retries_total")
	if retries == 0 {
		t.Error("ingest_loader_insert_retries_total = 0: the kill failed no INSERT in flight")
	}
	dedup, err := os.ReadFile(r2.Dir() + "/log/clickhouse-server.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("records: %d produced and committed (logs %d, metrics %d, spans %d); %d committed before the kill, %d by %v after it (r1 down), "+
		"when r2's Distributed tables showed %d rows (parts only r1 held are missing there until it is back); %.0f INSERT attempts retried, "+
		"%d blocks deduplicated by r2; whole test %v",
		total(final), want["logs"], want["metrics"], want["spans"], total(before), total(during), failover.Round(100*time.Millisecond),
		visible["logs"]+visible["metrics"]+visible["spans"], retries, bytes.Count(dedup, []byte("already exists; ignoring it")),
		time.Since(began).Round(100*time.Millisecond))
}

// waitInsertRunning waits until conn's server runs an INSERT into the tables for 0.1 s or more.
func waitInsertRunning(t *testing.T, conn driver.Conn) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n uint64
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := conn.QueryRow(ctx, "SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO `ingest`.%' AND elapsed >= 0.1").Scan(&n)
		cancel()
		if err == nil && n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no INSERT ran on the replica for 30 s")
}

// countOn runs query (with %s for the table) for logs, metrics and spans on conn.
func countOn(t *testing.T, conn driver.Conn, query string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, tbl := range []string{"logs", "metrics", "spans"} {
		q := fmt.Sprintf(query, tbl)
		var n uint64
		var err error
		for range 5 { // the pool may hold a connection from before a restart
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = conn.QueryRow(ctx, q).Scan(&n)
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out[tbl] = n
	}
	return out
}
