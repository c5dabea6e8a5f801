package loader

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/chserver"
	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// benchRecords returns n encoded records of signal sig shaped like real telemetry: five
// attributes, three resource attributes, a trace context on logs and spans, a 60-byte body.
func benchRecords(sig record.Signal, n int) []*kgo.Record {
	base := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC).UnixNano()
	out := make([]*kgo.Record, n)
	for i := range n {
		r := record.Record{
			Tenant: "acme", Signal: sig, Timestamp: base + int64(i)*1_000_000, ReceivedAt: base + int64(i)*1_000_000 + 3e9,
			Name: "http.server.request", Scope: "io.opentelemetry.http", Unit: "ns",
			Attributes: []record.KV{{Key: "http.method", Value: "GET"}, {Key: "http.route", Value: "/api/v1/items/{id}"},
				{Key: "http.status_code", Value: strconv.Itoa(200 + i%5)}, {Key: "net.peer.ip", Value: "10.0.3." + strconv.Itoa(i%250)},
				{Key: "user_agent", Value: "curl/8.5.0"}},
			Resource: []record.KV{{Key: "service.name", Value: "checkout"}, {Key: "host.name", Value: "node-" + strconv.Itoa(i%16)},
				{Key: "k8s.namespace.name", Value: "prod"}},
		}
		r.EventID[0], r.EventID[1], r.EventID[2], r.EventID[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		switch sig {
		case record.SignalLog:
			r.HasTrace = true
			r.TraceID[0], r.SpanID[0] = byte(i), byte(i)
			r.SeverityNumber, r.SeverityText = 9, "INFO"
			r.Body = "request served in 1234 us for client 10.0.3.17 with status 200 OK"
		case record.SignalMetric:
			r.MetricKind, r.Value = record.MetricGauge, float64(i%1000)
		case record.SignalSpan:
			r.HasTrace = true
			r.TraceID[0], r.SpanID[0], r.ParentSpanID[0] = byte(i), byte(i+1), byte(i+2)
			r.Duration, r.SpanKind, r.StatusCode = int64(i%100_000), 2, 1
		}
		out[i] = &kgo.Record{Topic: "ingest.acme", Partition: int32(i % 6), Offset: int64(i / 6), Value: record.Append(nil, &r)}
	}
	return out
}

// BenchmarkLoadIntoClickHouse measures the loader's flush of one table: decode the Kafka
// records, build the columns, INSERT them as one native block into the private ClickHouse
// (ledger and roll-up marker views included) and wait for the acknowledgement. rows/s is the loader's
// throughput into ClickHouse; ch-cpu-s/op is ClickHouse's own CPU time per op.
func BenchmarkLoadIntoClickHouse(b *testing.B) {
	ch := chtest.Start(b)
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, ch.Conn(), "ingest"); err != nil {
		b.Fatal(err)
	}
	ins := &chInserter{conn: ch.Conn(), database: "ingest", timeout: time.Minute}
	const rows = 50_000
	for _, sig := range []record.Signal{record.SignalLog, record.SignalMetric, record.SignalSpan} {
		recs := benchRecords(sig, rows)
		t, _ := tableOf(sig, false)
		var size int64
		for _, r := range recs {
			size += int64(len(r.Value))
		}
		b.Run(t.String(), func(b *testing.B) {
			cols := newColumns(t)
			var rec record.Record
			b.SetBytes(size)
			b.ReportAllocs()
			cpu0, self0 := ch.CPUTime(), selfCPU()
			b.ResetTimer()
			for range b.N {
				fillColumns(b, cols, &rec, recs)
				if err := ins.insert(ctx, cols, 0, cols.n); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			chCPU, goCPU := (ch.CPUTime() - cpu0).Seconds(), (selfCPU() - self0).Seconds()
			b.ReportMetric(chCPU/float64(b.N), "ch-cpu-s/op")
			b.ReportMetric(goCPU/float64(b.N), "go-cpu-s/op")
			// What one core of each would sustain, independent of other load on the machine.
			b.ReportMetric(float64(rows)*float64(b.N)/goCPU, "rows/go-cpu-s")
			b.ReportMetric(float64(rows)*float64(b.N)/chCPU, "rows/ch-cpu-s")
		})
	}
}

// BenchmarkFlushIntoClickHouse measures a whole flush as the loader does it: 50,000 records
// for each of the three tables, decoded and built, then sent as three concurrent INSERTs into
// the private ClickHouse (ledger and roll-up marker views included). rows/s counts all three
// tables. ch-insert-cpu-s/op is the INSERTs' own CPU from system.query_log (merges excluded;
// ch-cpu-s/op is the whole server's); the views=off variant drops the materialized views
// first, so the difference is what the views cost.
func BenchmarkFlushIntoClickHouse(b *testing.B) {
	for _, perTable := range []int{50_000, 5_000} {
		for _, views := range []bool{true, false} {
			name := fmt.Sprintf("rows=%d/views=on", perTable)
			if !views {
				name = fmt.Sprintf("rows=%d/views=off", perTable)
			}
			b.Run(name, func(b *testing.B) { benchmarkFlushIntoClickHouse(b, perTable, views) })
		}
	}
}

func benchmarkFlushIntoClickHouse(b *testing.B, perTable int, views bool) {
	ch := chtest.StartConfig(b, chserver.Config{QueryLog: true})
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, ch.Conn(), "ingest"); err != nil {
		b.Fatal(err)
	}
	if !views {
		for _, v := range []string{"logs_offsets_mv", "metrics_offsets_mv", "spans_offsets_mv", "metrics_windows_mv"} {
			if err := ch.Conn().Exec(ctx, "DROP TABLE ingest."+v); err != nil {
				b.Fatal(err)
			}
		}
	}
	var recs [numTables][]*kgo.Record
	var size int64
	for t := range numTables {
		recs[t] = benchRecords(record.Signal(t.kind()+1), perTable)
		for _, r := range recs[t] {
			size += int64(len(r.Value))
		}
	}
	m := newTestMetrics(b)
	log := discardLogger()
	f := newFlusher(flushPolicy{rows: perTable, bytes: 1 << 30, interval: time.Second},
		&chInserter{conn: ch.Conn(), database: "ingest", timeout: time.Minute},
		newLedger(&chLedger{conn: ch.Conn(), database: "ingest"}, m.recordsSkipped), &fakeDLQ{}, "ingest-deadletter", m, log, &retries{log: log})
	b.SetBytes(size)
	b.ReportAllocs()
	insertCPU0 := insertCPU(b, ch)
	cpu0, self0 := ch.CPUTime(), selfCPU()
	b.ResetTimer()
	for range b.N {
		for t := range numTables {
			f.bufs[t].recs = append(f.bufs[t].recs[:0], recs[t]...)
		}
		f.processed(time.Now())
		if err := f.flush(ctx, triggerRows); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	rows := float64(3*perTable) * float64(b.N)
	chCPU, goCPU := (ch.CPUTime() - cpu0).Seconds(), (selfCPU() - self0).Seconds()
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(chCPU/float64(b.N), "ch-cpu-s/op")
	b.ReportMetric((insertCPU(b, ch)-insertCPU0)/float64(b.N), "ch-insert-cpu-s/op")
	b.ReportMetric(goCPU/float64(b.N), "go-cpu-s/op")
	b.ReportMetric(rows/(chCPU+goCPU), "rows/cpu-s")
}

// insertCPU is the CPU (user plus system) of every INSERT into the data tables that ClickHouse
// logged so far, in seconds.
func insertCPU(b *testing.B, ch *chtest.Server) float64 {
	ctx := context.Background()
	if err := ch.Conn().Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		b.Fatal(err)
	}
	var us uint64
	if err := ch.Conn().QueryRow(ctx, "SELECT toUInt64(sum(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'UserTimeMicroseconds')] + "+
		"ProfileEvents.Values[indexOf(ProfileEvents.Names, 'SystemTimeMicroseconds')])) FROM system.query_log "+
		"WHERE type = 2 AND match(query, '^INSERT INTO `ingest`.`(logs|metrics|spans)`')").Scan(&us); err != nil {
		b.Fatal(err)
	}
	return float64(us) / 1e6
}

// selfCPU returns this process's CPU time (user plus system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBuildColumns measures the Go side alone: decode and build the columns of 50,000
// records, without ClickHouse.
func BenchmarkBuildColumns(b *testing.B) {
	recs := benchRecords(record.SignalLog, 50_000)
	cols := newColumns(tableLogs)
	var rec record.Record
	var size int64
	for _, r := range recs {
		size += int64(len(r.Value))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for range b.N {
		fillColumns(b, cols, &rec, recs)
	}
	b.ReportMetric(50_000*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkObserveVisibility is what the visibility histograms add to every acknowledged
// INSERT: two observations per row (by table, by tenant), 50,000 log rows per op.
func BenchmarkObserveVisibility(b *testing.B) {
	recs := benchRecords(record.SignalLog, 50_000)
	f, _ := newTestFlusher(b, &fakeCH{ledger: map[ledgerKey]int64{}})
	buf := f.bufs[tableLogs]
	var rec record.Record
	fillColumns(b, buf.cols, &rec, recs)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f.observeVisibility(buf)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(50_000*b.N), "ns/row")
}

// fillColumns resets cols and decodes recs into it, through rec.
func fillColumns(b *testing.B, cols *columns, rec *record.Record, recs []*kgo.Record) {
	cols.reset()
	for _, kr := range recs {
		if err := record.Decode(kr.Value, rec); err != nil {
			b.Fatal(err)
		}
		cols.add(rec, kr.Topic, kr.Partition, kr.Offset)
	}
}
