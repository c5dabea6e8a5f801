package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/record"
)

// Fakes of the flusher's seams (inserter, ledgerReader, deadLetterWriter) and test records,
// shared by the unit tests of the flusher, the ledger and the consumer loop.

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
	reads   int // ledger reads
	readErr int // the next readErr ledger reads fail
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
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.readErr > 0 {
		f.readErr--
		return nil, errors.New("connection refused")
	}
	return maps.Clone(f.ledger), nil
}

func (f *fakeCH) inserted() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rows)
}

type fakeDLQ struct {
	ch      *fakeCH
	letters []deadLetter
	failing int // the next failing writes fail
}

func (d *fakeDLQ) write(_ context.Context, dls []deadLetter) error {
	if d.failing > 0 {
		d.failing--
		return errors.New("kafka: not enough replicas")
	}
	for _, dl := range dls {
		d.ch.events = append(d.ch.events, fmt.Sprintf("dead-lettered %d", dl.rec.Offset))
	}
	d.letters = append(d.letters, dls...)
	return nil
}

// testPolicy flushes at 100 rows, 1 MiB or 1 s.
var testPolicy = flushPolicy{rows: 100, bytes: 1 << 20, interval: time.Second}

func newTestMetrics(t testing.TB) *metrics {
	t.Helper()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestFlusher returns a flusher inserting into ch, reading ch's ledger and dead-lettering
// into the returned fake.
func newTestFlusher(t testing.TB, ch *fakeCH) (*flusher, *fakeDLQ) {
	t.Helper()
	m := newTestMetrics(t)
	dlq := &fakeDLQ{ch: ch}
	log := discardLogger()
	return newFlusher(testPolicy, ch, newLedger(ch, m.recordsSkipped), dlq, "ingest-deadletter", m, log, &retries{log: log}), dlq
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

// recordsOf returns n records of table tb at offsets first.., partition 0 of ingest.acme.
func recordsOf(t testing.TB, tb table, first, n int) []*kgo.Record {
	t.Helper()
	out := logRecords(n)
	for i, kr := range out {
		var rec record.Record
		if err := record.Decode(kr.Value, &rec); err != nil {
			t.Fatal(err)
		}
		rec.Signal = record.Signal(tb.kind() + 1)
		kr.Value = record.Append(nil, &rec)
		kr.Offset = int64(first + i)
	}
	return out
}
