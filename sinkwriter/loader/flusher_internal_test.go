package loader

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/record"
)

func TestBisectDeadLettersOnlyTheRowsClickHouseRefusesAndKeepsOffsetOrder(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, refuse: func(off int64) bool { return off == 5 || off == 11 }}
	f, dlq := newTestFlusher(t, ch)
	b := f.bufs[tableLogs]
	b.recs = logRecords(16)
	if err := f.flushTable(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var dead []int64
	for _, dl := range dlq.letters {
		dead = append(dead, dl.rec.Offset)
		if dl.reason != ReasonInsertRejected || dl.table != "logs" || !strings.Contains(dl.err.Error(), "type mismatch") {
			t.Errorf("dead letter %+v, want reason %s, table logs, the exception", dl, ReasonInsertRejected)
		}
	}
	if !slices.Equal(dead, []int64{5, 11}) {
		t.Errorf("dead-lettered %v, want [5 11]", dead)
	}
	want := []int64{0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15}
	if !slices.Equal(ch.rows, want) {
		t.Errorf("inserted %v, want %v in order", ch.rows, want)
	}
	// A refused record is dead-lettered before any later offset of its table is inserted, so
	// that the ledger covers it after a crash.
	for i, ev := range ch.events {
		if ev == "dead-lettered 5" && slices.ContainsFunc(ch.events[:i], func(e string) bool { return strings.HasPrefix(e, "inserted 6") }) {
			t.Errorf("offset 6 inserted before 5 was dead-lettered: %v", ch.events)
		}
	}
	if len(b.recs) != 0 {
		t.Errorf("buffer keeps %d records after the flush", len(b.recs))
	}
}

func TestAFailedInsertThatLandedIsReconciledWithTheLedgerNotRepeated(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, failing: 1, landed: true}
	f, _ := newTestFlusher(t, ch)
	b := f.bufs[tableLogs]
	b.recs = logRecords(10)
	if err := f.flushTable(context.Background(), b); !errors.Is(err, errRetry) {
		t.Fatalf("first flush = %v, want errRetry", err)
	}
	if err := f.flushTable(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(ch.rows) != 10 || ch.inserts != 1 {
		t.Errorf("%d rows in %d inserts, want 10 rows in 1 insert (the retry must see the ledger)", len(ch.rows), ch.inserts)
	}
}

func TestAFailedInsertThatDidNotLandIsRetriedWhole(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, failing: 2}
	f, _ := newTestFlusher(t, ch)
	b := f.bufs[tableLogs]
	b.recs = logRecords(10)
	for i := 0; ; i++ {
		err := f.flushTable(context.Background(), b)
		if err == nil {
			break
		}
		if !errors.Is(err, errRetry) || i > 2 {
			t.Fatalf("flush %d = %v", i, err)
		}
	}
	if len(ch.rows) != 10 || ch.inserts != 3 {
		t.Errorf("%d rows in %d inserts, want 10 in 3", len(ch.rows), ch.inserts)
	}
}

func TestUndecodableRecordsOfATableAreDeadLetteredBeforeItsInsert(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	f, dlq := newTestFlusher(t, ch)
	b := f.bufs[tableLogs]
	b.recs = logRecords(4)
	b.recs[2].Value = b.recs[2].Value[:len(b.recs[2].Value)-1] // truncated
	if err := f.flushTable(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(dlq.letters) != 1 || dlq.letters[0].rec.Offset != 2 || dlq.letters[0].reason != ReasonRecordCorrupt {
		t.Fatalf("dead letters %+v, want offset 2 as %s", dlq.letters, ReasonRecordCorrupt)
	}
	if !slices.Equal(ch.events, []string{"dead-lettered 2", "inserted 0..3"}) {
		t.Errorf("events %v, want the dead letter before the insert", ch.events)
	}
}

func TestFlushSendsTablesConcurrentlyAndCommitsOnlyAfterAll(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, failing: 1}
	f, _ := newTestFlusher(t, ch)
	for tb := range numTables {
		for i, kr := range logRecords(3) {
			var rec record.Record
			if err := record.Decode(kr.Value, &rec); err != nil {
				t.Fatal(err)
			}
			rec.Signal = record.Signal(tb + 1)
			kr.Value = record.Append(nil, &rec)
			kr.Offset = int64(3*int(tb) + i)
			f.bufs[tb].recs = append(f.bufs[tb].recs, kr)
		}
	}
	f.firstAt = time.Now()
	// One of the three concurrent INSERTs fails: the flush is retried, the others are not.
	if err := f.flush(context.Background(), triggerRows); !errors.Is(err, errRetry) {
		t.Fatalf("flush = %v, want errRetry", err)
	}
	if !f.pending {
		t.Fatal("flush not pending after a failure")
	}
	if err := f.flush(context.Background(), triggerRows); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ch.rows)
	if !slices.Equal(ch.rows, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("rows %v, want each of the 9 once", ch.rows)
	}
	if ch.inserts != 4 || f.pending {
		t.Errorf("%d inserts, pending %v; want 4 (3 concurrent, 1 retry) and done", ch.inserts, f.pending)
	}
}

func TestFlusherIsFullAtFlushRowsOfOneTableOrFlushBytesOfAll(t *testing.T) {
	f, _ := newTestFlusher(t, &fakeCH{ledger: map[ledgerKey]int64{}})
	for _, kr := range recordsOf(t, tableMetrics, 0, testPolicy.rows-1) {
		f.add(tableMetrics, kr)
	}
	for _, kr := range recordsOf(t, tableLogs, 0, testPolicy.rows-1) {
		f.add(tableLogs, kr)
	}
	if got := f.full(); got != "" {
		t.Fatalf("full() = %q with %d rows in each of two tables, want \"\"", got, testPolicy.rows-1)
	}
	f.add(tableLogs, recordsOf(t, tableLogs, testPolicy.rows, 1)[0])
	if got := f.full(); got != triggerRows {
		t.Errorf("full() = %q with %d logs rows, want %q", got, testPolicy.rows, triggerRows)
	}

	// Bytes count every table (and the corrupt records) together.
	small := testPolicy
	small.bytes = 4 << 10
	f, _ = newTestFlusher(t, &fakeCH{ledger: map[ledgerKey]int64{}})
	f.policy = small
	for i := 0; f.full() == ""; i++ {
		if i > small.rows {
			t.Fatalf("not full after %d records of %d bytes in all", i, f.bytes)
		}
		tb := table(i % int(numTables))
		f.add(tb, recordsOf(t, tb, i, 1)[0])
	}
	if got := f.full(); got != triggerBytes || f.bytes < small.bytes {
		t.Errorf("full() = %q at %d bytes, want %q at or above %d", got, f.bytes, triggerBytes, small.bytes)
	}
}

func TestFlusherIsDueFlushIntervalAfterTheFirstProcessedRecord(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	f, _ := newTestFlusher(t, ch)
	t0 := time.Unix(1_700_000_000, 0)
	if f.due(t0) || f.holding() || f.wait(t0) != testPolicy.interval {
		t.Fatalf("empty flusher: due %v, holding %v, wait %v; want not due, not holding, the whole interval", f.due(t0), f.holding(), f.wait(t0))
	}
	f.processed(t0)
	f.add(tableLogs, logRecords(1)[0])
	f.processed(t0.Add(500 * time.Millisecond)) // a later record does not move the clock
	if f.due(t0.Add(testPolicy.interval - time.Millisecond)) {
		t.Error("due before the interval passed")
	}
	if got := f.wait(t0.Add(300 * time.Millisecond)); got != testPolicy.interval-300*time.Millisecond {
		t.Errorf("wait 300 ms after the first record = %v, want %v", got, testPolicy.interval-300*time.Millisecond)
	}
	if !f.due(t0.Add(testPolicy.interval)) {
		t.Error("not due once the interval passed")
	}
	if err := f.flush(context.Background(), triggerInterval); err != nil {
		t.Fatal(err)
	}
	if f.holding() || f.due(t0.Add(time.Hour)) || len(ch.inserted()) != 1 {
		t.Errorf("after the flush: holding %v, rows %v; want nothing held and the row inserted", f.holding(), ch.inserted())
	}
	if got := testutil.ToFloat64(f.m.flushes.WithLabelValues(triggerInterval)); got != 1 {
		t.Errorf("flushes{trigger=interval} = %v, want 1", got)
	}
}

func TestAFlushThatKeepsFailingIsRetriedWithGrowingBackoffThenSucceedsOnce(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, failing: 3}
	f, _ := newTestFlusher(t, ch)
	for _, kr := range logRecords(10) {
		f.add(tableLogs, kr)
	}
	policy := retryPolicy(DefaultConfig())
	for attempt := 1; ; attempt++ {
		err := f.flush(context.Background(), triggerRows)
		if err == nil {
			break
		}
		if !errors.Is(err, errRetry) || attempt > 3 {
			t.Fatalf("attempt %d: flush = %v, want errRetry for the first 3", attempt, err)
		}
		if f.retries.n != attempt || !f.pending {
			t.Fatalf("after failed attempt %d: %d failures counted, pending %v", attempt, f.retries.n, f.pending)
		}
		// The wait the loop takes before the next attempt grows with the failures.
		if d, hi := policy.Delay(f.retries.n-1), policy.Min<<(f.retries.n-1); d < policy.Min || d > hi {
			t.Errorf("backoff after %d failures = %v, want within [%v, %v]", f.retries.n, d, policy.Min, hi)
		}
	}
	if f.retries.n != 0 || f.pending {
		t.Errorf("after the success: %d failures counted, pending %v; want 0 and done", f.retries.n, f.pending)
	}
	if rows := ch.inserted(); len(rows) != 10 || ch.inserts != 4 {
		t.Errorf("%d rows in %d inserts, want 10 in 4 (3 failed)", len(rows), ch.inserts)
	}
	if got := testutil.ToFloat64(f.m.insertRetries.WithLabelValues("logs")); got != 3 {
		t.Errorf("insert_retries_total{table=logs} = %v, want 3", got)
	}
	if got := testutil.ToFloat64(f.m.flushes.WithLabelValues(triggerRows)); got != 1 {
		t.Errorf("flushes_total{trigger=rows} = %v, want 1 (one flush, four attempts)", got)
	}
}

func TestAPoisonRecordRefusedInTheConcurrentInsertIsIsolatedAndDeadLettered(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, refuse: func(off int64) bool { return off == 137 }}
	f, dlq := newTestFlusher(t, ch)
	for tb := range numTables {
		for _, kr := range recordsOf(t, tb, 100*int(tb), 60) {
			f.add(tb, kr)
		}
	}
	if err := f.flush(context.Background(), triggerRows); err != nil {
		t.Fatal(err)
	}
	if len(dlq.letters) != 1 || dlq.letters[0].rec.Offset != 137 || dlq.letters[0].reason != ReasonInsertRejected || dlq.letters[0].table != "metrics" {
		t.Fatalf("dead letters %+v, want metrics offset 137 as %s", dlq.letters, ReasonInsertRejected)
	}
	if rows, want := ch.inserted(), 60*int(numTables)-1; len(rows) != want || slices.Contains(rows, 137) {
		t.Errorf("inserted %d rows (137 among them: %v), want the %d others", len(rows), slices.Contains(rows, 137), want)
	}
	if got := testutil.ToFloat64(f.m.deadLetters.WithLabelValues(ReasonInsertRejected)); got != 1 {
		t.Errorf("deadletter_total{reason=%s} = %v, want 1", ReasonInsertRejected, got)
	}
	if got := testutil.ToFloat64(f.m.rowsInserted.WithLabelValues("metrics")); got != 59 {
		t.Errorf("rows_inserted_total{table=metrics} = %v, want 59", got)
	}
}

func TestCorruptRecordsAreDeadLetteredBeforeAnyInsertAndRetriedWhenKafkaFails(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	f, dlq := newTestFlusher(t, ch)
	dlq.failing = 1
	recs := logRecords(3)
	f.add(tableLogs, recs[0])
	f.addCorrupt(&kgo.Record{Topic: "ingest.acme", Offset: 1, Value: []byte("garbage")}, errors.New("bad"))
	f.add(tableLogs, recs[2])
	if err := f.flush(context.Background(), triggerInterval); !errors.Is(err, errRetry) {
		t.Fatalf("flush with the dead-letter topic failing = %v, want errRetry", err)
	}
	if len(ch.inserted()) != 0 {
		t.Fatalf("inserted %v before the dead letter was written", ch.inserted())
	}
	if err := f.flush(context.Background(), triggerInterval); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.events, []string{"dead-lettered 1", "inserted 0..2"}) {
		t.Errorf("events %v, want the dead letter, then the insert", ch.events)
	}
}

func TestDropEmptiesEveryBufferAndAbandonsThePendingFlush(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, failing: 1}
	f, _ := newTestFlusher(t, ch)
	f.processed(time.Now())
	for _, kr := range logRecords(4) {
		f.add(tableLogs, kr)
	}
	f.addCorrupt(&kgo.Record{Value: []byte("x")}, errors.New("bad"))
	if err := f.flush(context.Background(), triggerRows); !errors.Is(err, errRetry) {
		t.Fatalf("flush = %v, want errRetry", err)
	}
	if got := f.drop(); got != 4 { // the corrupt one went to the dead letters already
		t.Errorf("drop() = %d, want 4", got)
	}
	if f.holding() || f.pending || f.rows != 0 || f.bytes != 0 || len(f.bufs[tableLogs].recs) != 0 || f.bufs[tableLogs].tried {
		t.Errorf("after drop: holding %v, pending %v, rows %d, bytes %d, logs %d (tried %v); want all empty",
			f.holding(), f.pending, f.rows, f.bytes, len(f.bufs[tableLogs].recs), f.bufs[tableLogs].tried)
	}
	if got := testutil.ToFloat64(f.m.bufferedBytes); got != 0 {
		t.Errorf("buffered_bytes = %v after drop, want 0", got)
	}
}

// TestVisibilityIsMeasuredFromReceiptToTheInsertsAcknowledgement: each row of an acknowledged
// INSERT is observed once, as the time from its received_at to the flusher's clock when
// ClickHouse acknowledged; a received_at ahead of that clock counts as 0.
func TestVisibilityIsMeasuredFromReceiptToTheInsertsAcknowledgement(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	f, _ := newTestFlusher(t, ch)
	ack := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return ack }
	ages := []time.Duration{200 * time.Millisecond, 800 * time.Millisecond, 2500 * time.Millisecond, 20 * time.Second, -time.Second}
	for i, kr := range logRecords(len(ages)) {
		var rec record.Record
		if err := record.Decode(kr.Value, &rec); err != nil {
			t.Fatal(err)
		}
		rec.ReceivedAt = ack.Add(-ages[i]).UnixNano()
		kr.Value = record.Append(nil, &rec)
		f.bufs[tableLogs].recs = append(f.bufs[tableLogs].recs, kr)
	}
	f.firstAt = ack
	if err := f.flush(context.Background(), triggerRows); err != nil {
		t.Fatal(err)
	}
	h := visibilitySeries(t, f.m.vis, "ingest_loader_visibility_seconds", "logs")
	if h.GetSampleCount() != 5 || h.GetSampleSum() != 23.5 {
		t.Errorf("%d rows observed, %v s in all; want 5 rows, 0.2 + 0.8 + 2.5 + 20 + 0 = 23.5 s", h.GetSampleCount(), h.GetSampleSum())
	}
	want := map[float64]uint64{0.25: 2, 1: 3, 3: 4, 10: 4, 30: 5}
	for _, b := range h.GetBucket() {
		if n, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != n {
			t.Errorf("rows visible within %v s: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), n)
		}
	}
}

// TestVisibilityPerTenantIsBoundedAndTheObjectiveIsExported: each tenant's rows go to its own
// series up to maxVisibilityTenants tenants, later tenants' rows to "_other"; the objective
// the histograms serve is on /metrics.
func TestVisibilityPerTenantIsBoundedAndTheObjectiveIsExported(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	f, _ := newTestFlusher(t, ch)
	ack := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return ack }
	n := maxVisibilityTenants + 2
	for i, kr := range logRecords(n) {
		var rec record.Record
		if err := record.Decode(kr.Value, &rec); err != nil {
			t.Fatal(err)
		}
		rec.Tenant = fmt.Sprintf("t%03d", i)
		rec.ReceivedAt = ack.Add(-time.Second).UnixNano()
		kr.Value = record.Append(nil, &rec)
		f.bufs[tableLogs].recs = append(f.bufs[tableLogs].recs, kr)
	}
	f.policy.rows = n + 1
	f.firstAt = ack
	if err := f.flush(context.Background(), triggerRows); err != nil {
		t.Fatal(err)
	}
	count := func(tenant string) uint64 {
		return visibilitySeries(t, f.m.vis, "ingest_loader_tenant_visibility_seconds", tenant).GetSampleCount()
	}
	if got := count("t000"); got != 1 {
		t.Errorf("tenant t000: %d rows, want 1", got)
	}
	if got := count(otherTenant); got != 2 {
		t.Errorf("%s: %d rows, want the 2 of the tenants beyond the first %d", otherTenant, got, maxVisibilityTenants)
	}
	if got := testutil.CollectAndCount(f.m.vis, "ingest_loader_tenant_visibility_seconds"); got != maxVisibilityTenants+1 {
		t.Errorf("%d per-tenant series, want %d and %s", got, maxVisibilityTenants, otherTenant)
	}
	if got := testutil.ToFloat64(f.m.visibilityObjective.WithLabelValues("0.95")); got != VisibilityObjective.Seconds() {
		t.Errorf("objective %v s, want %v", got, VisibilityObjective.Seconds())
	}
}

// visibilitySeries gathers c and returns the histogram of family name whose one label has
// value label.
func visibilitySeries(t *testing.T, c prometheus.Collector, name, label string) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == name && m.GetLabel()[0].GetValue() == label {
				return m.GetHistogram()
			}
		}
	}
	t.Fatalf("no %s series %q", name, label)
	return nil
}

// TestFlushIntervalAdaptsToTheVisibilityObjective drives interval flushes whose oldest row is
// visible after a chosen time: the interval starts at the minimum, grows while rows are
// visible well within the objective, up to flush_interval, is cut when the oldest row nears
// the objective, holds when the rows waited in Kafka (the loader is behind), and never adapts
// after a flush the rows triggered; the gauge follows.
func TestFlushIntervalAdaptsToTheVisibilityObjective(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	f, _ := newTestFlusher(t, ch)
	f.policy.minInterval, f.policy.interval = 100*time.Millisecond, time.Second
	f.interval = f.policy.minInterval
	ack := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return ack }
	// flushOnce flushes one row whose oldest row became visible age after it was received.
	flushOnce := func(age time.Duration, trigger string) time.Duration {
		t.Helper()
		for _, kr := range logRecords(1) {
			var rec record.Record
			if err := record.Decode(kr.Value, &rec); err != nil {
				t.Fatal(err)
			}
			rec.ReceivedAt = ack.Add(-age).UnixNano()
			kr.Value = record.Append(nil, &rec)
			f.bufs[tableLogs].recs = append(f.bufs[tableLogs].recs, kr)
		}
		f.firstAt = ack
		if err := f.flush(context.Background(), trigger); err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(f.m.flushInterval); got != f.interval.Seconds() {
			t.Fatalf("ingest_loader_flush_interval_seconds %v, the interval is %v", got, f.interval)
		}
		return f.interval
	}
	// Visible in 300 ms (< 0.6 s): grows by 1/8 per flush, up to the maximum.
	prev := f.interval
	for range 30 {
		got := flushOnce(300*time.Millisecond, triggerInterval)
		if got < prev || got > time.Second {
			t.Fatalf("interval %v after %v with rows visible in 300 ms: want it to grow, at most 1 s", got, prev)
		}
		prev = got
	}
	if prev != time.Second {
		t.Fatalf("interval %v after 30 fast flushes, want the maximum 1 s", prev)
	}
	// Between 0.6 and 0.8 of the objective: holds.
	if got := flushOnce(700*time.Millisecond, triggerInterval); got != time.Second {
		t.Errorf("interval %v with rows visible in 700 ms, want it held at 1 s", got)
	}
	// Visible in 900 ms (> 0.8 s) with an interval of 1 s: cut by a quarter.
	f.interval = 400 * time.Millisecond
	if got := flushOnce(900*time.Millisecond, triggerInterval); got != 300*time.Millisecond {
		t.Errorf("interval %v with rows visible in 900 ms after a 400 ms interval, want 300 ms", got)
	}
	// Visible in 2 s after a 300 ms interval: 1.7 s in Kafka, behind: holds.
	if got := flushOnce(2*time.Second, triggerInterval); got != 300*time.Millisecond {
		t.Errorf("interval %v when the rows waited in Kafka, want it held at 300 ms", got)
	}
	// A flush the rows triggered does not adapt.
	if got := flushOnce(100*time.Millisecond, triggerRows); got != 300*time.Millisecond {
		t.Errorf("interval %v after a rows flush, want it unchanged at 300 ms", got)
	}
	// A cut never goes below the minimum (a slow INSERT: 500 ms of the 900).
	f.interval, f.worst, f.took = 110*time.Millisecond, 900*time.Millisecond, 500*time.Millisecond
	if f.adapt(); f.interval != f.policy.minInterval {
		t.Errorf("interval %v after a cut from 110 ms, want the minimum %v", f.interval, f.policy.minInterval)
	}
	// minInterval at or above interval: fixed.
	f.policy.minInterval, f.interval = 2*time.Second, time.Second
	if got := flushOnce(100*time.Millisecond, triggerInterval); got != time.Second {
		t.Errorf("interval %v with a minimum above the maximum, want it fixed at 1 s", got)
	}
}
