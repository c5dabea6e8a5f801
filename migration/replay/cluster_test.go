package replay

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// TestReplayOnAClusterPlansRunsDiffsPromotesAndDiscards runs a replay on a cluster of two
// replicas (one shard, Replicated tables, schema.MigrateCluster). The live loader inserts into
// replica r2, where the incident happens too (a minute of logs deleted, another minute
// overwritten by corrupted copies); the replay's manager reaches r1. Without a cluster option
// the replay fails at its start, with ClickHouse's code 253 (its table AS the live one copies
// the live table's ZooKeeper path) and says to set clickhouse.cluster. With it: the replay
// tables are Replicated at paths of their own on both replicas, the diff read on r1 shows
// exactly the incident made on r2, promote restores live on both replicas (its delete, a
// mutation, replicated), and discard drops the tables on both replicas and their ZooKeeper
// metadata. (INGEST_CHCLUSTER=1: see chtest.StartCluster.)
func TestReplayOnAClusterPlansRunsDiffsPromotesAndDiscards(t *testing.T) {
	began := time.Now()
	const perTenant = 600 // one partition: 2 minutes of events, 100 of each table per minute
	cl := chtest.StartCluster(t, 2)
	e := newClusterEnv(t, cl, 0, 1, 1, "ingest.acme")
	r2 := cl.Replicas[1].Conn()
	on2 := *e
	on2.ch = cl.Replicas[1]
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sync := func(tables ...string) {
		t.Helper()
		for _, c := range cl.Replicas {
			for _, tb := range tables {
				if err := c.Conn().Exec(ctx, "SYSTEM SYNC REPLICA ingest."+tb); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	e.produce("acme", 1, 0, perTenant)
	e.liveLoader()
	for _, table := range []string{"logs", "metrics", "spans"} {
		on2.waitCount("SELECT count() FROM ingest."+table+" WHERE tenant = 'acme'", perTenant/3, time.Minute)
	}
	sync("logs", "metrics", "spans")
	original := on2.liveRows("acme")
	if got := e.liveRows("acme"); got != original {
		t.Fatalf("the replicas differ after a sync:\n r1 %s\n r2 %s", got, original)
	}

	// The incident, on r2: minute 1 of the logs deleted, minute 0 overwritten by corrupted
	// copies (the same keys: FINAL shows the copies).
	cols := strings.Join(loaderColumns(signals[0]), ", ")
	minute1 := "tenant = 'acme' AND time >= toDateTime(" + itoa(baseTime/1e9+60) + ")"
	corrupt := "INSERT INTO ingest.logs (" + cols + ") SELECT " + strings.Replace(cols, "body", "concat(body, ' corrupted') AS body", 1) +
		" FROM ingest.logs WHERE time < toDateTime(" + itoa(baseTime/1e9+60) + ")"
	for _, q := range []string{"ALTER TABLE ingest.logs DELETE WHERE " + minute1, corrupt} {
		if err := r2.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	on2.waitCount("SELECT count() FROM ingest.logs WHERE "+minute1, 0, time.Minute)
	incident := on2.liveRows("acme")
	if incident == original {
		t.Fatal("the incident changed nothing")
	}
	t.Logf("cluster up, %d records loaded through r2, incident made: %v", perTenant, time.Since(began).Round(100*time.Millisecond))

	store := &MemStore{}
	// Without the cluster option: the CREATE … AS the live table copies its ZooKeeper path.
	single := *e
	single.cluster = ""
	m0, stop0 := single.manager(Config{Rate: 1_000_000}, store)
	j0, err := m0.Plan(ctx, PlanRequest{Tenant: "acme", From: i64(0), To: i64(perTenant)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m0.Start(ctx, j0.ID); !hasCode(err, CodeClickHouse) || !strings.Contains(err.Error(), "253") || !strings.Contains(err.Error(), "set clickhouse.cluster") {
		t.Fatalf("start without the cluster option: %v, want ClickHouse's code 253 and a hint to set clickhouse.cluster", err)
	}
	stop0()

	m, _ := e.manager(Config{Rate: 1_000_000}, store)
	j, err := m.Plan(ctx, PlanRequest{Tenant: "acme", From: i64(0), To: i64(perTenant)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, j.ID, StateLoaded, time.Minute)
	for i, c := range cl.Replicas {
		for _, s := range signals {
			var path string
			rt := replayTable(s, j.ID)
			if err := c.Conn().QueryRow(ctx, "SELECT zookeeper_path FROM system.replicas WHERE database = 'ingest' AND table = ?", rt).Scan(&path); err != nil {
				t.Fatalf("replica r%d: %s is not a Replicated table: %v", i+1, rt, err)
			}
			if want := strings.Replace(fmt.Sprintf(schema.ZooKeeperPath, "ingest", rt), "{shard}", "01", 1); path != want {
				t.Errorf("replica r%d: %s is Replicated at %s, want %s", i+1, rt, path, want)
			}
		}
	}

	d, err := m.Diff(ctx, j.ID, ByMinute)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, w := range d.Windows {
		status[w.Table+" "+w.Start.Format("15:04")] = w.Status
	}
	want := map[string]string{"logs 12:00": WindowDiffering, "logs 12:01": WindowMissingInLive, "metrics 12:00": WindowMatching,
		"metrics 12:01": WindowMatching, "spans 12:00": WindowMatching, "spans 12:01": WindowMatching}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("window %s: %s, want %s (all: %v)", k, status[k], v, status)
		}
	}
	if d.Totals.Windows != 6 || d.Totals.ReplayRows != perTenant || d.Totals.LiveRows != perTenant-100 {
		t.Errorf("diff totals %+v, want 6 windows, %d replayed rows, %d live", d.Totals, perTenant, perTenant-100)
	}

	pp, err := m.PromotePlan(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Minute 0: the 100 corrupted copies go and the 100 originals come again; minute 1: its
	// 100 deleted logs come back.
	if pp.Insert != 200 || pp.Delete != 100 {
		t.Fatalf("promote plan: insert %d, delete %d; want 200 and 100: %+v", pp.Insert, pp.Delete, pp.Changes)
	}
	res, err := m.Promote(ctx, j.ID, pp.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mutations != 1 || res.Deleted != 100 || res.Inserted != 200 {
		t.Errorf("promote: %+v, want 1 mutation, 100 deleted, 200 inserted", res)
	}
	if got := e.liveRows("acme"); got != original {
		t.Errorf("after promote live on r1 is\n %s\nwant the original\n %s", got, original)
	}
	sync("logs")
	on2.waitCount("SELECT count() FROM ingest.logs WHERE tenant = 'acme' AND body LIKE '%corrupted'", 0, time.Minute)
	if got := on2.liveRows("acme"); got != original {
		t.Errorf("after promote live on r2 is\n %s\nwant the original\n %s", got, original)
	}
	d, err = m.Diff(ctx, j.ID, ByHour)
	if err != nil {
		t.Fatal(err)
	}
	if d.Totals.Matching != d.Totals.Windows || d.Totals.Windows != 3 {
		t.Errorf("diff after promote: %+v, want every window matching", d.Totals)
	}

	if _, err := m.Discard(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*env{e, &on2} {
		if n := c.count("SELECT count() FROM system.tables WHERE database = 'ingest' AND name LIKE '%_replay_" + j.ID + "%'"); n != 0 {
			t.Errorf("replica r%d: %d replay tables or views left after discard", i+1, n)
		}
		c.waitCount("SELECT count() FROM ingest.loader_offsets WHERE table_name LIKE '%_replay_"+j.ID+"'", 0, time.Minute)
	}
	if n := e.count("SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/tables/01/ingest' AND name LIKE '%_replay_" + j.ID + "'"); n != 0 {
		t.Errorf("%d replay tables left in ZooKeeper after discard", n)
	}
	t.Logf("replay planned, run, diffed, promoted and discarded on the cluster in %v", time.Since(began).Round(100*time.Millisecond))
}
