package rollup_test

import (
	"context"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/sinkwriter/rollup"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// BenchmarkRecomputeCycle measures one cycle of the roll-up worker that recomputes an hour of
// one tenant's metrics: 200,000 rows of 100 series (marked dirty again before each cycle),
// re-aggregated from metrics FINAL into 60 1m windows and their 10m and 60m windows, with
// tombstone checks. rows/s is metrics rows re-aggregated per second of wall time; ch-cpu-s/op
// is ClickHouse's CPU time per cycle (the worker itself only sends queries).
//
//	go test -run '^$' -bench RecomputeCycle -benchtime 10x ./sinkwriter/rollup
func BenchmarkRecomputeCycle(b *testing.B) {
	ch := chtest.Start(b)
	conn := ch.Conn()
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, conn, "ingest"); err != nil {
		b.Fatal(err)
	}
	const rows, seriesN = 200_000, 100
	bt, err := conn.PrepareBatch(ctx, "INSERT INTO ingest.metrics (tenant, time, time_unix_nano, event_id, name, series_id, value, kafka_topic, kafka_partition, kafka_offset)")
	if err != nil {
		b.Fatal(err)
	}
	step := time.Hour / rows
	for i := range rows {
		at := base.Add(time.Duration(i) * step)
		var id [16]byte
		id[0], id[1], id[2] = byte(i>>16), byte(i>>8), byte(i)
		if err := bt.Append("acme", at.Truncate(time.Second), at.UnixNano(), string(id[:]), "m", uint64(i%seriesN), float64(i%977), "ingest.acme", int32(0), int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := bt.Send(); err != nil {
		b.Fatal(err)
	}
	w, err := rollup.New(conn, rollup.Config{Database: "ingest", Delay: time.Nanosecond}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Cycle(ctx); err != nil { // the insert's markers
		b.Fatal(err)
	}
	minutes := make([]time.Time, 60)
	for i := range minutes {
		minutes[i] = base.Add(time.Duration(i) * time.Minute)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var elapsed time.Duration
	cpu0 := ch.CPUTime()
	for range b.N {
		b.StopTimer()
		if err := rollup.Mark(ctx, conn, "ingest", "", "acme", minutes); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := w.Cycle(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		if w.Pending() != 0 {
			b.Fatalf("%d windows pending after a cycle", w.Pending())
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric((ch.CPUTime()-cpu0).Seconds()/float64(b.N), "ch-cpu-s/op")
}
