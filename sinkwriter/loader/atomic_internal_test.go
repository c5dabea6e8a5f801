package loader

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// cutConn closes its connection once more than limit bytes were written to it, as the kernel
// does for a process killed in the middle of sending.
type cutConn struct {
	net.Conn
	written, limit int64
	cut            *atomic.Bool
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.written+int64(len(p)) > c.limit {
		n, _ := c.Conn.Write(p[:max(0, c.limit-c.written)])
		c.written += int64(n)
		c.cut.Store(true)
		c.Conn.Close()
		return n, net.ErrClosed
	}
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	return n, err
}

// TestAnInsertCutOffMidBlockLeavesNoRowAndNoLedgerEntry checks the premise of exactly-once on
// the ClickHouse the tests run: a block whose sender dies halfway is not applied at all, to the
// table nor to its views.
func TestAnInsertCutOffMidBlockLeavesNoRowAndNoLedgerEntry(t *testing.T) {
	ch := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := schema.Migrate(ctx, ch.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	recs := benchRecords(record.SignalMetric, 100_000)
	cols := newColumns(tableMetrics)
	var rec record.Record
	for _, kr := range recs {
		if err := record.Decode(kr.Value, &rec); err != nil {
			t.Fatal(err)
		}
		cols.add(&rec, kr.Topic, kr.Partition, kr.Offset)
	}
	var cut atomic.Bool
	opts := ch.Options("")
	opts.MaxOpenConns, opts.MaxIdleConns = 1, 1
	opts.DialContext = func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		// Enough for the handshake and the INSERT query, then half of the ~25 MB block.
		return &cutConn{Conn: c, limit: 12 << 20, cut: &cut}, nil
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = (&chInserter{conn: conn, database: "ingest", timeout: time.Minute}).insert(ctx, cols, 0, cols.n)
	if err == nil || !cut.Load() {
		t.Fatalf("insert = %v, cut %v: want the connection cut mid-block", err, cut.Load())
	}
	time.Sleep(time.Second) // let the server finish with the broken query
	for _, q := range []string{
		"SELECT count() FROM ingest.metrics",
		"SELECT count() FROM ingest.loader_offsets",
		"SELECT count() FROM ingest.metrics_windows", // the roll-up markers: no window to recompute
	} {
		var n uint64
		if err := ch.Conn().QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s = %d after a block cut in half, want 0", q, n)
		}
	}
	// The same block sent whole lands whole.
	if err := (&chInserter{conn: ch.Conn(), database: "ingest", timeout: time.Minute}).insert(ctx, cols, 0, cols.n); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := ch.Conn().QueryRow(ctx, "SELECT count() FROM ingest.metrics").Scan(&n); err != nil || n != 100_000 {
		t.Fatalf("count after a whole block = %d (%v), want 100000", n, err)
	}
}
