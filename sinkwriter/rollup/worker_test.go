package rollup_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/sinkwriter/rollup"
	"github.com/ingestdev/ingest/sinkwriter/rollup/rolluptest"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// base is 2024-03-10 12:00:00 UTC: every test window before now is closed.
var base = time.Unix(1710072000, 0).UTC()

// point is one metrics row: its event id, time, series and values, and where it was read.
type point struct {
	id     int
	at     time.Time
	series string
	value  float64
	count  uint64
	sum    float64
	offset int64
}

func migrated(t *testing.T) driver.Conn {
	t.Helper()
	ch := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := schema.Migrate(ctx, ch.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	return ch.Conn()
}

// insert writes points of tenant into metrics+set as one native block (as the loader does).
func insert(t *testing.T, conn driver.Conn, set, tenant string, pts ...point) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO ingest.metrics"+set+
		" (tenant, time, time_unix_nano, event_id, name, unit, attr_keys, attr_values, series_id, kind, value, dist_count, dist_sum, kafka_topic, kafka_partition, kafka_offset)")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pts {
		series := uint64(len(p.series)) // distinct per test series name length, like a hash would be
		if err := b.Append(tenant, p.at.Truncate(time.Second), p.at.UnixNano(), fmt.Sprintf("%-16.16s", fmt.Sprintf("ev-%d", p.id)),
			p.series, "1", []string{"host"}, []string{"a"}, series, uint8(1), p.value, p.count, p.sum,
			"ingest."+tenant, int32(0), p.offset); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// sumPoints returns the points of tenant's 1m roll-up of set in window [from, to), through
// the documented query path.
func sumPoints(t *testing.T, conn driver.Conn, table, tenant string, from, to time.Time) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT toUInt64(sum(points)) FROM ingest."+table+" FINAL WHERE tenant = ? AND points > 0 AND window_start >= ? AND window_start < ?",
		tenant, from, to).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func newWorker(t *testing.T, conn driver.Conn, cfg rollup.Config) (*rollup.Worker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Database = "ingest"
	w, err := rollup.New(conn, cfg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w, reg
}

// series spreads n points of two series over time from start, step apart, with distinct
// nanoseconds (the "last" value is then unambiguous), ids from id0, offsets from id0.
func series(id0, n int, start time.Time, step time.Duration) []point {
	var pts []point
	for i := range n {
		id := id0 + i
		pts = append(pts, point{id: id, at: start.Add(time.Duration(i)*step + time.Duration(id%1000)*time.Microsecond + 7), series: []string{"cpu", "memory"}[i%2],
			value: float64((id*7919)%1000) / 10, count: uint64(id%5 + 1), sum: float64(id%101) + 0.25, offset: int64(id)})
	}
	return pts
}

// waitMutations waits until every mutation of database ingest is done.
func waitMutations(t *testing.T, conn driver.Conn) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.mutations WHERE database = 'ingest' AND is_done = 0").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("mutations not done within a minute")
}

// TestDuplicateRowsAtTwoOffsetsCountOnceInEveryRollup inserts records, then some of them again
// at new Kafka offsets (a client or producer retry, a loader re-insert), in the live and the
// shadow tables: every roll-up counts each record once and equals metrics FINAL.
func TestDuplicateRowsAtTwoOffsetsCountOnceInEveryRollup(t *testing.T) {
	conn := migrated(t)
	pts := series(0, 300, base, 17*time.Second) // 85 minutes, two series
	again := append([]point(nil), pts[100:150]...)
	for i := range again {
		again[i].offset += 1000
	}
	for _, set := range schema.TableSets {
		insert(t, conn, set, "acme", pts...)
		insert(t, conn, set, "acme", again...)
	}
	insert(t, conn, schema.ShadowTableSet, "acme", series(5000, 10, base, time.Second)...) // the shadow set differs
	w, reg := newWorker(t, conn, rollup.Config{Delay: time.Nanosecond})
	rolluptest.SettleWith(t, w, time.Minute)
	if got := rolluptest.AssertExact(t, conn, "ingest", "", "acme"); got != uint64(len(pts)) {
		t.Errorf("metrics_1m counts %d points, want %d (each record once)", got, len(pts))
	}
	if got := rolluptest.AssertExact(t, conn, "ingest", schema.ShadowTableSet, "acme"); got != uint64(len(pts)+10) {
		t.Errorf("metrics_1m_shadow counts %d points, want %d", got, len(pts)+10)
	}
	// 300 points 17 s apart span 85 minutes; each dirty minute of each set is recomputed once,
	// however many markers name it.
	if got := testkit.MetricSum(t, reg, "ingest_rollup_windows_recomputed_total", "level", "1m"); got != 2*85 {
		t.Errorf("ingest_rollup_windows_recomputed_total{level=1m} = %v, want 2 × 85 minutes", got)
	}
	if got := testkit.MetricSum(t, reg, "ingest_rollup_pending_windows"); got != 0 {
		t.Errorf("ingest_rollup_pending_windows = %v after settling", got)
	}
}

// TestLateDataUpdatesAComputedWindow loads a window, rolls it up, then loads a late record of
// the same minute and a record of a new series: the next cycle counts both.
func TestLateDataUpdatesAComputedWindow(t *testing.T) {
	conn := migrated(t)
	insert(t, conn, "", "acme", series(0, 20, base, 3*time.Second)...)
	w, _ := newWorker(t, conn, rollup.Config{Delay: time.Nanosecond})
	rolluptest.SettleWith(t, w, time.Minute)
	before := sumPoints(t, conn, "metrics_1m", "acme", base, base.Add(time.Minute))
	late := series(100, 3, base.Add(30*time.Second), time.Second)
	late[2].series = "disk"
	insert(t, conn, "", "acme", late...)
	rolluptest.SettleWith(t, w, time.Minute)
	if got := sumPoints(t, conn, "metrics_1m", "acme", base, base.Add(time.Minute)); got != before+3 {
		t.Errorf("first minute counts %d points after 3 late records, want %d", got, before+3)
	}
	for _, tbl := range []string{"metrics_10m", "metrics_60m"} {
		if got := sumPoints(t, conn, tbl, "acme", base, base.Add(time.Hour)); got != 23 {
			t.Errorf("%s counts %d points, want 23", tbl, got)
		}
	}
	rolluptest.AssertExact(t, conn, "ingest", "", "acme")
}

// TestDeletedRowsLeaveTombstonesOnceMarked deletes a window's rows (a mutation, which fires no
// view) and marks it: the roll-ups show nothing for it through the documented query path.
func TestDeletedRowsLeaveTombstonesOnceMarked(t *testing.T) {
	conn := migrated(t)
	ctx := context.Background()
	insert(t, conn, "", "acme", series(0, 40, base, 3*time.Second)...) // two minutes
	insert(t, conn, "", "globex", series(1000, 10, base, 3*time.Second)...)
	w, _ := newWorker(t, conn, rollup.Config{Delay: time.Nanosecond})
	rolluptest.SettleWith(t, w, time.Minute)
	if got := sumPoints(t, conn, "metrics_1m", "acme", base.Add(time.Minute), base.Add(2*time.Minute)); got != 20 {
		t.Fatalf("second minute counts %d points before the delete, want 20", got)
	}
	if err := conn.Exec(ctx, "ALTER TABLE ingest.metrics DELETE WHERE tenant = 'acme' AND time >= ?", base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitMutations(t, conn)
	rolluptest.SettleWith(t, w, time.Minute) // no marker yet: the delete is not seen
	if got := sumPoints(t, conn, "metrics_1m", "acme", base.Add(time.Minute), base.Add(2*time.Minute)); got != 20 {
		t.Fatalf("second minute counts %d points after an unmarked delete, want the stale 20 (else this test proves nothing)", got)
	}
	if err := rollup.Mark(ctx, conn, "ingest", "", "acme", []time.Time{base.Add(time.Minute + 30*time.Second)}); err != nil {
		t.Fatal(err)
	}
	rolluptest.SettleWith(t, w, time.Minute)
	for _, tbl := range []string{"metrics_1m", "metrics_10m", "metrics_60m"} {
		if got := sumPoints(t, conn, tbl, "acme", base.Add(time.Minute), base.Add(2*time.Minute)); tbl == "metrics_1m" && got != 0 {
			t.Errorf("%s: the deleted minute counts %d points, want 0", tbl, got)
		}
		if got := sumPoints(t, conn, tbl, "acme", base, base.Add(time.Hour)); got != 20 {
			t.Errorf("%s counts %d points of acme, want the 20 left", tbl, got)
		}
	}
	var tombstones uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM ingest.metrics_1m FINAL WHERE tenant = 'acme' AND points = 0").Scan(&tombstones); err != nil || tombstones != 2 {
		t.Errorf("metrics_1m holds %d tombstones of acme (%v), want 2 (two series in the deleted minute)", tombstones, err)
	}
	rolluptest.AssertExact(t, conn, "ingest", "", "acme", "globex")

	// Everything deleted: the hour is empty at every level.
	if err := conn.Exec(ctx, "ALTER TABLE ingest.metrics DELETE WHERE tenant = 'acme'"); err != nil {
		t.Fatal(err)
	}
	waitMutations(t, conn)
	if err := rollup.Mark(ctx, conn, "ingest", "", "acme", []time.Time{base}); err != nil {
		t.Fatal(err)
	}
	rolluptest.SettleWith(t, w, time.Minute)
	for _, tbl := range []string{"metrics_1m", "metrics_10m", "metrics_60m"} {
		if got := sumPoints(t, conn, tbl, "acme", base, base.Add(time.Hour)); got != 0 {
			t.Errorf("%s counts %d points of acme after all its rows were deleted, want 0", tbl, got)
		}
	}
	rolluptest.AssertExact(t, conn, "ingest", "", "acme", "globex")
}

// TestEveryMarkRecomputesItsWindowsAgain marks the same minute twice in quick succession
// (within one second, as two promotes could): each call's marker is recomputed.
func TestEveryMarkRecomputesItsWindowsAgain(t *testing.T) {
	conn := migrated(t)
	ctx := context.Background()
	insert(t, conn, "", "acme", series(0, 5, base, time.Second)...)
	w, reg := newWorker(t, conn, rollup.Config{Delay: time.Nanosecond})
	rolluptest.SettleWith(t, w, time.Minute)
	for i := range 3 {
		if err := rollup.Mark(ctx, conn, "ingest", "", "acme", []time.Time{base, base}); err != nil {
			t.Fatal(err)
		}
		if err := w.Cycle(ctx); err != nil {
			t.Fatal(err)
		}
		if got := testkit.MetricSum(t, reg, "ingest_rollup_windows_recomputed_total", "level", "1m"); got != float64(2+i) {
			t.Fatalf("after mark %d: %v 1m windows recomputed, want %d", i+1, got, 2+i)
		}
	}
}

// serverNow returns ClickHouse's clock.
func serverNow(t *testing.T, conn driver.Conn) time.Time {
	t.Helper()
	var now time.Time
	if err := conn.QueryRow(context.Background(), "SELECT now()").Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now
}

// waitServerTime waits until ClickHouse's clock reaches at.
func waitServerTime(t *testing.T, conn driver.Conn, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(at.Sub(serverNow(t, conn)) + 30*time.Second)
	for serverNow(t, conn).Before(at) {
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse's clock did not reach %v", at)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestARestartedWorkerResumesFromItsCursor stops a worker after it rolled up a first load,
// loads more, and starts a new worker: it reads only the markers since the persisted cursor
// (minus the horizon) and misses none.
func TestARestartedWorkerResumesFromItsCursor(t *testing.T) {
	conn := migrated(t)
	insert(t, conn, "", "acme", series(0, 100, base, 20*time.Second)...) // 34 minutes: 34 markers
	// Let the first markers fall behind the horizon (1 s) before the first worker reads.
	waitServerTime(t, conn, serverNow(t, conn).Add(3*time.Second))
	w1, reg1 := newWorker(t, conn, rollup.Config{Delay: time.Nanosecond, Horizon: time.Second})
	rolluptest.SettleWith(t, w1, time.Minute)
	if got := testkit.MetricSum(t, reg1, "ingest_rollup_markers_total"); got != 34 {
		t.Fatalf("first worker read %v markers, want 34", got)
	}
	waitServerTime(t, conn, serverNow(t, conn).Add(3*time.Second))

	// Stopped (dropped). Meanwhile: late data in an old minute and a new hour.
	insert(t, conn, "", "acme", series(500, 2, base.Add(10*time.Second), time.Second)...)
	insert(t, conn, "", "acme", series(600, 30, base.Add(5*time.Hour), 10*time.Second)...) // 5 minutes
	w2, reg2 := newWorker(t, conn, rollup.Config{Delay: time.Nanosecond, Horizon: time.Second})
	rolluptest.SettleWith(t, w2, time.Minute)
	if got := testkit.MetricSum(t, reg2, "ingest_rollup_markers_total"); got != 6 {
		t.Errorf("restarted worker read %v markers, want the 6 since its cursor (1 + 5 minutes)", got)
	}
	if got := testkit.MetricSum(t, reg2, "ingest_rollup_windows_recomputed_total", "level", "1m"); got != 6 {
		t.Errorf("restarted worker recomputed %v 1m windows, want 6", got)
	}
	if got := rolluptest.AssertExact(t, conn, "ingest", "", "acme"); got != 132 {
		t.Errorf("metrics_1m counts %d points, want 132", got)
	}
}

// TestAnOpenWindowWaitsUntilItCloses loads a record of the current minute: no worker rolls it
// up before the minute ends plus the delay, not even one restarted meanwhile; then one does.
func TestAnOpenWindowWaitsUntilItCloses(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the current minute to end")
	}
	conn := migrated(t)
	now := serverNow(t, conn)
	if now.Second() >= 55 { // leave the cycles below time to run inside the minute
		waitServerTime(t, conn, now.Truncate(time.Minute).Add(time.Minute))
		now = serverNow(t, conn)
	}
	minute := now.Truncate(time.Minute)
	insert(t, conn, "", "acme", point{id: 1, at: now, series: "cpu", value: 3, offset: 1})
	insert(t, conn, "", "acme", series(10, 4, base, time.Second)...) // a closed minute beside it
	const delay = 2 * time.Second
	w1, _ := newWorker(t, conn, rollup.Config{Delay: delay, Horizon: time.Second})
	if err := w1.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sumPoints(t, conn, "metrics_1m", "acme", base, base.Add(time.Minute)); got != 4 {
		t.Errorf("the closed minute counts %d points, want 4", got)
	}
	if got := w1.Pending(); got != 1 {
		t.Errorf("Pending() = %d, want the open minute", got)
	}
	// A restarted worker keeps the open minute pending too (the cursor did not pass it).
	w2, _ := newWorker(t, conn, rollup.Config{Delay: delay, Horizon: time.Second})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := w2.Cycle(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := sumPoints(t, conn, "metrics_1m", "acme", minute, minute.Add(time.Minute))
		closed := !serverNow(t, conn).Before(minute.Add(time.Minute + delay))
		if got != 0 && !closed {
			t.Fatalf("the open minute %v was rolled up before it closed", minute)
		}
		if got == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the minute %v was not rolled up within 2 minutes (pending %d)", minute, w2.Pending())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := w2.Pending(); got != 0 {
		t.Errorf("Pending() = %d after the minute was rolled up", got)
	}
	rolluptest.AssertExact(t, conn, "ingest", "", "acme")
}

// TestTheMigrationBackfillMarksExistingData empties the markers of loaded data and runs
// migration 0002 again from its first statement (an interrupted run): the worker computes the
// roll-ups from the backfilled markers.
func TestTheMigrationBackfillMarksExistingData(t *testing.T) {
	conn := migrated(t)
	ctx := context.Background()
	insert(t, conn, "", "acme", series(0, 50, base, 40*time.Second)...)
	insert(t, conn, schema.ShadowTableSet, "acme", series(0, 5, base, 40*time.Second)...)
	rolluptest.Settle(t, conn, "ingest", time.Minute)
	for _, set := range schema.TableSets {
		if err := conn.Exec(ctx, "TRUNCATE TABLE ingest.metrics_windows"+set); err != nil {
			t.Fatal(err)
		}
		if err := conn.Exec(ctx, "TRUNCATE TABLE ingest.rollup_state"); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range ms[rollup.SchemaVersion-1].Statements("ingest") {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if got := sumPoints(t, conn, "metrics_1m", "acme", base, base.Add(time.Hour)); got != 0 {
		t.Fatalf("metrics_1m holds %d points after the migration dropped it", got)
	}
	rolluptest.Settle(t, conn, "ingest", time.Minute)
	if got := rolluptest.AssertExact(t, conn, "ingest", "", "acme"); got != 50 {
		t.Errorf("metrics_1m counts %d points after the backfill, want 50", got)
	}
	if got := rolluptest.AssertExact(t, conn, "ingest", schema.ShadowTableSet, "acme"); got != 5 {
		t.Errorf("metrics_1m_shadow counts %d points after the backfill, want 5", got)
	}
}

// TestTheWorkerWaitsForTheSchemaAndPrunesOldMarkers runs a worker before the migrations
// (it waits, without failing), then with a marker partition older than the retention.
func TestTheWorkerWaitsForTheSchemaAndPrunesOldMarkers(t *testing.T) {
	ch := chtest.Start(t)
	conn := ch.Conn()
	ctx := context.Background()
	w, reg := newWorker(t, conn, rollup.Config{Delay: time.Nanosecond})
	if err := w.Cycle(ctx); err == nil {
		t.Fatal("Cycle before the migrations succeeded")
	}
	if _, err := schema.Migrate(ctx, conn, "ingest"); err != nil {
		t.Fatal(err)
	}
	old := serverNow(t, conn).Add(-72 * time.Hour)
	b, err := conn.PrepareBatch(ctx, "INSERT INTO ingest.metrics_windows (tenant, window_start, inserted_at)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("acme", base, old); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	insert(t, conn, "", "acme", series(0, 3, base, time.Second)...)
	if err := w.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testkit.MetricSum(t, reg, "ingest_rollup_marker_partitions_dropped_total"); got != 1 {
		t.Errorf("ingest_rollup_marker_partitions_dropped_total = %v, want 1", got)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM ingest.metrics_windows").Scan(&n); err != nil || n != 1 {
		t.Errorf("metrics_windows holds %d markers (%v), want the recent one", n, err)
	}
	rolluptest.AssertExact(t, conn, "ingest", "", "acme")
}
