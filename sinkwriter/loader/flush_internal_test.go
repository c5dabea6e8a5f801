package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/record"
)

// fakeCH is a ClickHouse table and its ledger in memory: insert applies a block whole and
// updates the ledger, as the materialized view does.
type fakeCH struct {
	mu      sync.Mutex
	rows    []int64 // offsets inserted, in order
	ledger  map[ledgerKey]int64
	events  []string
	refuse  func(offset int64) bool // rows refused for a data reason
	failing int                     // the next failing inserts fail transiently...
	landed  bool                    // ...after applying the block (an ambiguous failure)
	inserts int
}

func (f *fakeCH) insert(_ context.Context, c *columns, lo, hi int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inserts++
	for _, off := range c.kafkaOffset[lo:hi] {
		if f.refuse != nil && f.refuse(off) {
			f.events = append(f.events, fmt.Sprintf("refused %d..%d", c.kafkaOffset[lo], c.kafkaOffset[hi-1]))
			return &clickhouse.Exception{Code: 53, Message: "type mismatch"}
		}
	}
	if f.failing > 0 {
		f.failing--
		if !f.landed {
			return errors.New("connection reset")
		}
	}
	for r := lo; r < hi; r++ {
		off := c.kafkaOffset[r]
		f.rows = append(f.rows, off)
		k := ledgerKey{c.t, c.kafkaTopic.row(r), c.kafkaPartition[r]}
		f.ledger[k] = max(offsetIn(f.ledger, k), off)
	}
	f.events = append(f.events, fmt.Sprintf("inserted %d..%d", c.kafkaOffset[lo], c.kafkaOffset[hi-1]))
	if f.failing >= 0 && f.landed {
		f.landed = false
		return errors.New("read: i/o timeout") // the block landed, the client does not know
	}
	return nil
}

func (f *fakeCH) read(context.Context) (map[ledgerKey]int64, error) {
	return f.ledger, nil
}

type fakeDLQ struct {
	ch      *fakeCH
	letters []deadLetter
}

func (d *fakeDLQ) write(_ context.Context, dls []deadLetter) error {
	for _, dl := range dls {
		d.ch.events = append(d.ch.events, fmt.Sprintf("dead-lettered %d", dl.rec.Offset))
	}
	d.letters = append(d.letters, dls...)
	return nil
}

func newTestRun(t *testing.T, ch *fakeCH) (*run, *fakeDLQ) {
	t.Helper()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	dlq := &fakeDLQ{ch: ch}
	r := &run{
		cfg: DefaultConfig(), m: m, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ins: ch, ledger: ch, dlq: dlq,
		parts: map[topicPartition]*partState{}, hwm: map[topicPartition]int64{},
	}
	for tb := range numTables {
		r.bufs[tb] = &tableBuf{t: tb, cols: newColumns(tb)}
	}
	return r, dlq
}

func logRecords(n int) []*kgo.Record {
	var out []*kgo.Record
	for i := range n {
		rec := &record.Record{Tenant: "acme", Signal: record.SignalLog, Timestamp: time.Now().UnixNano(), Body: "line"}
		rec.EventID[15] = byte(i)
		out = append(out, &kgo.Record{Topic: "ingest.acme", Partition: 0, Offset: int64(i), Value: record.Append(nil, rec)})
	}
	return out
}

func TestBisectDeadLettersOnlyTheRowsClickHouseRefusesAndKeepsOffsetOrder(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, refuse: func(off int64) bool { return off == 5 || off == 11 }}
	r, dlq := newTestRun(t, ch)
	b := r.bufs[tableLogs]
	b.recs = logRecords(16)
	if err := r.flushTable(context.Background(), b); err != nil {
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
	r, _ := newTestRun(t, ch)
	b := r.bufs[tableLogs]
	b.recs = logRecords(10)
	if err := r.flushTable(context.Background(), b); !errors.Is(err, errRetry) {
		t.Fatalf("first flush = %v, want errRetry", err)
	}
	if err := r.flushTable(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(ch.rows) != 10 || ch.inserts != 1 {
		t.Errorf("%d rows in %d inserts, want 10 rows in 1 insert (the retry must see the ledger)", len(ch.rows), ch.inserts)
	}
}

func TestAFailedInsertThatDidNotLandIsRetriedWhole(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, failing: 2}
	r, _ := newTestRun(t, ch)
	b := r.bufs[tableLogs]
	b.recs = logRecords(10)
	for i := 0; ; i++ {
		err := r.flushTable(context.Background(), b)
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
	r, dlq := newTestRun(t, ch)
	b := r.bufs[tableLogs]
	b.recs = logRecords(4)
	b.recs[2].Value = b.recs[2].Value[:len(b.recs[2].Value)-1] // truncated
	if err := r.flushTable(context.Background(), b); err != nil {
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
	r, _ := newTestRun(t, ch)
	for tb := range numTables {
		for i, kr := range logRecords(3) {
			var rec record.Record
			if err := record.Decode(kr.Value, &rec); err != nil {
				t.Fatal(err)
			}
			rec.Signal = record.Signal(tb + 1)
			kr.Value = record.Append(nil, &rec)
			kr.Offset = int64(3*int(tb) + i)
			r.bufs[tb].recs = append(r.bufs[tb].recs, kr)
		}
	}
	r.firstAt = time.Now()
	// One of the three concurrent INSERTs fails: the flush is retried, the others are not.
	if err := r.flush(context.Background(), triggerRows); !errors.Is(err, errRetry) {
		t.Fatalf("flush = %v, want errRetry", err)
	}
	if !r.pending {
		t.Fatal("flush not pending after a failure")
	}
	if err := r.flush(context.Background(), triggerRows); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ch.rows)
	if !slices.Equal(ch.rows, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("rows %v, want each of the 9 once", ch.rows)
	}
	if ch.inserts != 4 || r.pending {
		t.Errorf("%d inserts, pending %v; want 4 (3 concurrent, 1 retry) and done", ch.inserts, r.pending)
	}
}

func TestTakeSkipsWhatTheLedgerShowsPerTable(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{{tableLogs, "ingest.acme", 0}: 2}}
	r, _ := newTestRun(t, ch)
	r.backlog = logRecords(5)
	if err := r.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(r.bufs[tableLogs].recs); got != 2 {
		t.Errorf("buffered %d records, want 2 (offsets 3 and 4)", got)
	}
	if ps := r.parts[topicPartition{"ingest.acme", 0}]; ps == nil || ps.next != 5 {
		t.Errorf("partition state %+v, want next offset 5", ps)
	}
}

func TestBackoffIsJitteredBetweenMinAndAGrowingCap(t *testing.T) {
	cfg := DefaultConfig()
	for attempt := range 40 {
		hi := cfg.RetryMax
		if attempt < 30 {
			hi = min(cfg.RetryMax, cfg.RetryMin<<attempt)
		}
		for range 50 {
			d := backoff(cfg, attempt)
			if d < cfg.RetryMin || d > max(hi, cfg.RetryMin) {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, cfg.RetryMin, hi)
			}
		}
	}
	if backoff(cfg, -1) != cfg.RetryMin {
		t.Error("backoff of a negative attempt is not RetryMin")
	}
}

func TestValidateReportsEveryBadKey(t *testing.T) {
	err := Config{
		FlushRows: 2_000_000, Compression: "zstd", Database: "a-b", TopicRegex: "(",
		RetryMin: time.Second, RetryMax: time.Millisecond, InsertTimeout: time.Minute, RebalanceTimeout: time.Second,
		HeartbeatInterval: 20 * time.Second, SessionTimeout: 30 * time.Second,
	}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, key := range []string{"brokers", "clickhouse_addr", "flush_rows", "compression", "database", "topic_regex", "retry_max", "insert_timeout", "heartbeat_interval"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("Validate error does not name %s: %v", key, err)
		}
	}
	if err := (Config{Brokers: []string{"k:9092"}, ClickHouseAddr: []string{"c:9000"}, TopicRegex: "^ingest"}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "dead-letter") {
		t.Errorf("a regex that matches the dead-letter topic: Validate = %v", err)
	}
	if err := (Config{Brokers: []string{"k:9092"}, ClickHouseAddr: []string{"c:9000"}}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestColumnValuesFollowTheInsertColumnList(t *testing.T) {
	for tb := range numTables {
		c := newColumns(tb)
		var r record.Record
		r.Signal = record.Signal(tb + 1)
		c.add(&r, "ingest.acme", 0, 0)
		if got, want := len(c.values(0, 1)), len(columnNames(tb)); got != want {
			t.Errorf("%s: %d values, %d columns", tb, got, want)
		}
		if q := insertQuery("ingest", tb); !strings.HasPrefix(q, "INSERT INTO `ingest`."+tb.String()+" (tenant, ") {
			t.Errorf("insert query %q", q)
		}
	}
}

func TestDateTimeClampsToItsRange(t *testing.T) {
	for ns, want := range map[int64]int64{-1: 0, 0: 0, 1_700_000_000_123_456_789: 1_700_000_000, 1 << 62: 1<<32 - 1} {
		if got := dateTime(ns); got != want {
			t.Errorf("dateTime(%d) = %d, want %d", ns, got, want)
		}
	}
}

// FuzzColumnsTakeAnyDecodableRecord feeds arbitrary values through the loader's parsing path
// (route, Decode, columns): it must never panic, and a decoded record becomes one complete row.
func FuzzColumnsTakeAnyDecodableRecord(f *testing.F) {
	for _, sig := range []record.Signal{record.SignalLog, record.SignalMetric, record.SignalSpan} {
		r := record.Record{Tenant: "acme", Signal: sig, Name: "n", Attributes: []record.KV{{Key: "k", Value: "v"}},
			HasDistribution: true, Buckets: []record.Bucket{{UpperBound: 1, Count: 2}}, Quantiles: []record.Quantile{{Quantile: 0.5, Value: 1}}}
		f.Add(record.Append(nil, &r))
	}
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, v []byte) {
		tb, ok := route(v)
		var r record.Record
		if err := record.Decode(v, &r); err != nil {
			return
		}
		if !ok {
			t.Fatalf("route refused a decodable record of signal %v", r.Signal)
		}
		c := newColumns(tb)
		c.add(&r, "t", 1, 2)
		if c.n != 1 || c.attrKeys.ends[0] != len(r.Attributes) || len(c.eventID.data) != 16 {
			t.Fatalf("row not complete: n=%d", c.n)
		}
		_ = c.values(0, 1)
	})
}
