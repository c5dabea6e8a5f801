package replay

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/rollup/rolluptest"
)

// The incident: a window of one tenant's rows vanished from live. Replay re-ingests the
// tenant's topic into its own tables; plan, run and diff leave live and the live consumer
// group untouched; diff shows exactly the missing rows; promote restores live to what it was,
// leaves the other tenant alone, and the roll-ups equal a fresh aggregation.
func TestReplayRecoversADeletedWindow(t *testing.T) {
	const perTenant, partitions = 3000, 2
	e := newEnv(t, partitions, "ingest.acme", "ingest.beta")
	e.produce("acme", partitions, 0, perTenant)
	e.produce("beta", partitions, 0, perTenant)
	e.liveLoader()
	for _, tenant := range []string{"acme", "beta"} {
		e.waitCount("SELECT (SELECT count() FROM ingest.logs WHERE tenant = '"+tenant+"') + (SELECT count() FROM ingest.metrics WHERE tenant = '"+tenant+
			"') + (SELECT count() FROM ingest.spans WHERE tenant = '"+tenant+"')", perTenant, time.Minute)
	}
	original := e.liveRows("acme")
	beta := e.liveRows("beta")

	// The incident: minutes 3, 4 and 5 of acme are gone from every live table.
	from, to := time.Unix(0, baseTime).Add(3*time.Minute), time.Unix(0, baseTime).Add(6*time.Minute)
	lost := map[string]uint64{}
	for _, s := range signals {
		tb := liveTable(s)
		cond := "tenant = 'acme' AND time >= toDateTime(" + itoa(from.Unix()) + ") AND time < toDateTime(" + itoa(to.Unix()) + ")"
		lost[tb] = e.count("SELECT count() FROM ingest." + tb + " WHERE " + cond)
		if err := e.ch.Conn().Exec(context.Background(), "ALTER TABLE ingest."+tb+" DELETE WHERE "+cond); err != nil {
			t.Fatal(err)
		}
		e.waitCount("SELECT count() FROM ingest."+tb+" WHERE "+cond, 0, time.Minute)
	}
	if lost["logs"] != 300 || lost["metrics"] != 300 || lost["spans"] != 300 {
		t.Fatalf("the incident deleted %v, want 300 rows of each table (3 minutes × 300 events / 3 signals)", lost)
	}
	incident, offsets := e.liveRows("acme"), e.committed()

	m, _ := e.manager(Config{Rate: 1_000_000, FlushRows: 1000}, &MemStore{})
	ctx := context.Background()
	j, err := m.Plan(ctx, PlanRequest{Tenant: "acme", From: i64(0), To: i64(perTenant / partitions)})
	if err != nil {
		t.Fatal(err)
	}
	p := j.Plan
	if p.Topic != "ingest.acme" || p.Records != perTenant || p.Events != perTenant || len(p.Partitions) != partitions {
		t.Fatalf("plan: topic %s, %d records, %d events, %d partitions; want ingest.acme, %d, %d, %d", p.Topic, p.Records, p.Events, len(p.Partitions), perTenant, perTenant, partitions)
	}
	for _, r := range p.Partitions {
		if r.From != 0 || r.To != perTenant/partitions || r.LastOffset != perTenant/partitions-1 || r.Records != perTenant/partitions {
			t.Errorf("partition %d: %+v, want [0, %d) with %d records", r.Partition, r, perTenant/partitions, perTenant/partitions)
		}
	}
	if got, want := p.EventTimeMin.UnixNano(), baseTime+7; got != want {
		t.Errorf("event time min %d, want %d", got, want)
	}
	if got, want := p.EventTimeMax.UnixNano(), baseTime+int64(perTenant-1)*int64(spacing)+7; got != want {
		t.Errorf("event time max %d, want %d", got, want)
	}
	for _, tt := range p.Tables {
		if !strings.HasSuffix(tt.Replay, "_replay_"+j.ID) || tt.Replay == tt.Live || tt.Events != perTenant/3 {
			t.Errorf("target %+v: want the replay's own table and %d events", tt, perTenant/3)
		}
	}

	if _, err := m.Start(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	j = waitState(t, m, j.ID, StateLoaded, time.Minute)
	if j.Progress.RecordsDone != perTenant || j.Progress.Percent != 100 {
		t.Errorf("progress %+v, want every record done", j.Progress)
	}
	d, err := m.Diff(ctx, j.ID, ByMinute)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.liveRows("acme"); got != incident {
		t.Errorf("plan, run and diff changed live:\n got %s\nwant %s", got, incident)
	}
	if got := e.committed(); got != offsets {
		t.Errorf("plan, run and diff changed the live group's offsets: %s, was %s", got, offsets)
	}
	missing := map[string]uint64{}
	for _, w := range d.Windows {
		in := !w.Start.Before(from) && w.Start.Before(to)
		switch {
		case in && (w.Status != WindowMissingInLive || w.LiveRows != 0 || w.ReplayRows != 100):
			t.Errorf("window %s %s: %+v, want missing in live with 100 replayed rows", w.Table, w.Start, w)
		case !in && (w.Status != WindowMatching || w.LiveRows != 100):
			t.Errorf("window %s %s: %+v, want matching with 100 rows", w.Table, w.Start, w)
		}
		missing[w.Table] += w.ReplayRows - w.LiveRows
	}
	if d.Totals.Windows != 30 || d.Totals.MissingInLive != 9 || d.Totals.Matching != 21 || d.Totals.ReplayRows != perTenant || d.Totals.LiveRows != perTenant-900 {
		t.Errorf("totals %+v, want 30 windows (10 minutes × 3 tables), 9 missing in live, 21 matching", d.Totals)
	}
	for tb, n := range lost {
		if missing[tb] != n {
			t.Errorf("diff: %d rows missing in %s, the incident deleted %d", missing[tb], tb, n)
		}
	}

	pp, err := m.PromotePlan(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pp.Insert != 900 || pp.Delete != 0 || len(pp.Changes) != 9 {
		t.Fatalf("promote plan: insert %d, delete %d, %d windows; want 900, 0, 9", pp.Insert, pp.Delete, len(pp.Changes))
	}
	if _, err := m.Promote(ctx, j.ID, "0000"); !hasCode(err, CodeChanged) {
		t.Errorf("promote with another fingerprint: %v, want %s", err, CodeChanged)
	}
	res, err := m.Promote(ctx, j.ID, pp.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 900 || res.Deleted != 0 || res.RollupWindows != 3 {
		t.Errorf("promote: %+v, want 900 inserted, 0 deleted, 3 roll-up minutes", res)
	}
	if got := e.liveRows("acme"); got != original {
		t.Errorf("after promote live is\n %s\nwant the original\n %s", got, original)
	}
	if got := e.liveRows("beta"); got != beta {
		t.Errorf("promote changed the other tenant:\n got %s\nwant %s", got, beta)
	}
	d, err = m.Diff(ctx, j.ID, ByHour)
	if err != nil {
		t.Fatal(err)
	}
	if d.Totals.Matching != d.Totals.Windows || d.Totals.Windows != 3 {
		t.Errorf("diff after promote: %+v, want every window matching", d.Totals)
	}
	if _, err := m.Promote(ctx, j.ID, pp.Fingerprint); !hasCode(err, CodeState) {
		t.Errorf("a second promote: %v, want %s", err, CodeState)
	}
	rolluptest.Settle(t, e.ch.Conn(), "ingest", time.Minute)
	rolluptest.AssertExact(t, e.ch.Conn(), "ingest", "", "acme", "beta")

	if _, err := m.Discard(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.count("SELECT count() FROM system.tables WHERE database = 'ingest' AND name LIKE '%_replay_" + j.ID + "%'"); n != 0 {
		t.Errorf("%d replay tables or views left after discard", n)
	}
	if _, err := m.Diff(ctx, j.ID, ""); !hasCode(err, CodeState) {
		t.Errorf("diff of a discarded replay: %v, want %s", err, CodeState)
	}
}

func hasCode(err error, code string) bool {
	e, ok := err.(*Error)
	return ok && e.Code == code
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// Live rows that differ from what Kafka holds (a corrupted copy inserted later, which FINAL
// shows) and rows live holds at the planned offsets that no record produced are replaced and
// removed by promote; what matched stays untouched.
func TestPromoteReplacesDifferingAndRemovesExtraRows(t *testing.T) {
	const perTenant = 600
	e := newEnv(t, 1, "ingest.acme")
	e.produce("acme", 1, 0, perTenant)
	e.liveLoader()
	// Every table: the loader flushes them independently, and the original must hold all.
	for _, table := range []string{"logs", "metrics", "spans"} {
		e.waitCount("SELECT count() FROM ingest."+table+" WHERE tenant = 'acme'", perTenant/3, time.Minute)
	}
	original := e.liveRows("acme")
	ctx := context.Background()
	cols := strings.Join(loaderColumns(signals[0]), ", ")
	// A corrupted copy of the logs of minute 0 (same key, other body), and an extra row at a
	// planned offset in minute 1 that no record produced (another event id).
	corrupt := "INSERT INTO ingest.logs (" + cols + ") SELECT " + strings.Replace(cols, "body", "concat(body, ' corrupted') AS body", 1) +
		" FROM ingest.logs WHERE time < toDateTime(" + itoa(baseTime/1e9+60) + ")"
	extra := "INSERT INTO ingest.logs (" + cols + ") SELECT " + strings.Replace(cols, "event_id", "toFixedString('extra-extra-extr', 16) AS event_id", 1) +
		" FROM ingest.logs WHERE kafka_offset = 300"
	for _, q := range []string{corrupt, extra} {
		if err := e.ch.Conn().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.liveRows("acme"); got == original {
		t.Fatal("the corruption changed nothing")
	}

	m, _ := e.manager(Config{Rate: 1_000_000}, &MemStore{})
	j, err := m.Plan(ctx, PlanRequest{Tenant: "acme", From: i64(0), To: i64(perTenant)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, j.ID, StateLoaded, time.Minute)
	d, err := m.Diff(ctx, j.ID, ByMinute)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, w := range d.Windows {
		status[w.Table+" "+w.Start.Format("15:04")] = w.Status
	}
	want := map[string]string{"logs 12:00": WindowDiffering, "logs 12:01": WindowExtraInLive, "metrics 12:00": WindowMatching, "spans 12:01": WindowMatching}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("window %s: %s, want %s (all: %v)", k, status[k], v, status)
		}
	}
	pp, err := m.PromotePlan(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Minute 0 holds 100 logs: their 100 corrupted copies go, and the 100 originals, which
	// FINAL hides behind them, come again; minute 1 loses its extra row.
	if pp.Insert != 100 || pp.Delete != 101 {
		t.Fatalf("promote plan: insert %d, delete %d; want 100 and 101: %+v", pp.Insert, pp.Delete, pp.Changes)
	}
	res, err := m.Promote(ctx, j.ID, pp.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mutations != 1 || res.Deleted != 101 || res.Inserted != 100 {
		t.Errorf("promote: %+v", res)
	}
	if got := e.liveRows("acme"); got != original {
		t.Errorf("after promote live is\n %s\nwant the original\n %s", got, original)
	}
	if n := e.count("SELECT count() FROM ingest.logs WHERE tenant = 'acme' AND (body LIKE '%corrupted' OR event_id = 'extra-extra-extr')"); n != 0 {
		t.Errorf("%d corrupted or extra rows left in live (without FINAL)", n)
	}
}

func loaderColumns(s record.Signal) []string { return loader.ColumnNames(s) }
