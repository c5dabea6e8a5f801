package loader

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestLedgerSkipsPerTableAndPartitionWhatIsAtOrBelowItsOffset(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{
		{tableLogs, "ingest.acme", 0}:    5,
		{tableMetrics, "ingest.acme", 0}: 2,
		{tableLogs, "ingest.acme", 1}:    0,
	}}
	m := newTestMetrics(t)
	led := newLedger(ch, m.recordsSkipped)
	if led.loaded() {
		t.Fatal("a new ledger is loaded")
	}
	if err := led.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		t         table
		topic     string
		partition int32
		offset    int64
		skip      bool
	}{
		{tableLogs, "ingest.acme", 0, 0, true},
		{tableLogs, "ingest.acme", 0, 5, true}, // at the ledger offset: loaded
		{tableLogs, "ingest.acme", 0, 6, false},
		{tableMetrics, "ingest.acme", 0, 2, true},
		{tableMetrics, "ingest.acme", 0, 3, false}, // each table has its own offset
		{tableSpans, "ingest.acme", 0, 0, false},   // no entry: the table holds nothing
		{tableLogs, "ingest.acme", 1, 0, true},
		{tableLogs, "ingest.acme", 1, 1, false}, // each partition too
		{tableLogs, "ingest.globex", 0, 0, false},
	} {
		rec := &kgo.Record{Topic: c.topic, Partition: c.partition, Offset: c.offset}
		if got := led.skip(c.t, rec); got != c.skip {
			t.Errorf("skip(%s, %s/%d@%d) = %v, want %v", c.t, c.topic, c.partition, c.offset, got, c.skip)
		}
	}
	if got := testutil.ToFloat64(m.recordsSkipped.WithLabelValues("logs")); got != 3 {
		t.Errorf("records_skipped_total{table=logs} = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.recordsSkipped.WithLabelValues("metrics")); got != 1 {
		t.Errorf("records_skipped_total{table=metrics} = %v, want 1", got)
	}
	led.forget()
	if led.loaded() || ch.reads != 1 {
		t.Errorf("after forget: loaded %v, %d reads; want unloaded after one read", led.loaded(), ch.reads)
	}
}

// TestLedgerReconcileKeepsWhatTheTableDoesNotHoldOfAPartialBatch: after an INSERT attempt that
// failed, part of the batch may be in the table (an earlier bisected half, or the whole block):
// reconcile keeps, partition by partition and in order, only what the ledger does not show.
func TestLedgerReconcileKeepsWhatTheTableDoesNotHoldOfAPartialBatch(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{
		{tableLogs, "ingest.acme", 0}:    6,   // offsets 0..6 of partition 0 landed
		{tableMetrics, "ingest.acme", 1}: 100, // another table's entry changes nothing
	}}
	m := newTestMetrics(t)
	led := newLedger(ch, m.recordsSkipped)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "ingest.acme", Partition: 0, Offset: int64(i)})
		if i < 5 {
			recs = append(recs, &kgo.Record{Topic: "ingest.acme", Partition: 1, Offset: int64(i)})
		}
	}
	all := slices.Clone(recs)
	kept, err := led.reconcile(context.Background(), tableLogs, recs)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(slices.Clone(all), func(r *kgo.Record) bool { return r.Partition == 0 && r.Offset <= 6 })
	if !slices.Equal(kept, want) {
		t.Errorf("kept %d records, want the %d above the ledger in their order", len(kept), len(want))
	}
	for i, r := range recs[len(kept):] {
		if r != nil {
			t.Errorf("record %d past the kept ones not cleared", len(kept)+i)
		}
	}
	if got := testutil.ToFloat64(m.recordsSkipped.WithLabelValues("logs")); got != 7 {
		t.Errorf("records_skipped_total{table=logs} = %v, want 7", got)
	}
	if led.loaded() {
		t.Error("reconcile loaded the session's ledger; it reads the ledger for itself")
	}

	// The whole block landed: nothing is kept.
	ch.ledger[ledgerKey{tableLogs, "ingest.acme", 1}] = 4
	ch.ledger[ledgerKey{tableLogs, "ingest.acme", 0}] = 9
	if kept, err := led.reconcile(context.Background(), tableLogs, slices.Clone(all)); err != nil || len(kept) != 0 {
		t.Errorf("reconcile after the block landed = %d records (%v), want none", len(kept), err)
	}
}

func TestALedgerReadThatFailsChangesNothing(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{{tableLogs, "ingest.acme", 0}: 9}, readErr: 2}
	led := newLedger(ch, newTestMetrics(t).recordsSkipped)
	if err := led.load(context.Background()); err == nil || led.loaded() {
		t.Fatalf("load with ClickHouse down = %v, loaded %v; want an error and not loaded", err, led.loaded())
	}
	recs := logRecords(3)
	kept, err := led.reconcile(context.Background(), tableLogs, recs)
	if err == nil || len(kept) != 3 || kept[2] != recs[2] {
		t.Fatalf("reconcile with ClickHouse down = %d records, %v; want all 3 back and an error", len(kept), err)
	}
	if err := led.load(context.Background()); err != nil || !led.loaded() {
		t.Fatalf("load after ClickHouse returned = %v, loaded %v", err, led.loaded())
	}
}
