package loader_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/rollup/rolluptest"
)

// TestRollupsAggregateKnownPointsAt1m10mAnd60m loads gauge, counter and histogram points of two
// series spread over three hours, lets the roll-up worker compute them, and checks every
// roll-up window, through the documented query path (FINAL, points > 0), against values
// computed here.
func TestRollupsAggregateKnownPointsAt1m10mAnd60m(t *testing.T) {
	e := newEnv(t, 2, []string{"ingest.acme"})
	type point struct {
		series string
		ts     int64 // seconds after baseTime
		value  float64
		count  uint64
		sum    float64
		hist   bool
	}
	var pts []point
	// Series "cpu" (gauge): a point every 37 s for three hours; values vary.
	for s := int64(0); s < 3*3600; s += 37 {
		pts = append(pts, point{series: "cpu", ts: s, value: float64((s*7919)%1000) / 10})
	}
	// Series "latency" (histogram): a point every 50 s for 70 minutes.
	for s := int64(0); s < 70*60; s += 50 {
		pts = append(pts, point{series: "latency", ts: s, count: uint64(s%13 + 1), sum: float64(s%101) + 0.5, hist: true})
	}
	var recs [2][]*record.Record
	for i, p := range pts {
		r := &record.Record{
			Tenant: "acme", Signal: record.SignalMetric, Name: p.series, Unit: "1",
			Timestamp:  baseTime + p.ts*1e9 + int64(i%1000), // ns part orders the "last" value
			Attributes: []record.KV{{Key: "host", Value: "a"}},
		}
		r.EventID[0], r.EventID[15] = byte(i>>8), byte(i)
		r.EventID[1] = 0xee
		if p.hist {
			r.MetricKind, r.HasDistribution, r.Count, r.Sum = record.MetricHistogram, true, p.count, p.sum
			r.Buckets = []record.Bucket{{UpperBound: math.Inf(1), Count: p.count}}
		} else {
			r.MetricKind, r.Value = record.MetricGauge, p.value
		}
		recs[i%2] = append(recs[i%2], r) // two partitions: interleaved blocks
	}
	e.produce("ingest.acme", 0, recs[0]...)
	e.produce("ingest.acme", 1, recs[1]...)
	cfg := e.config()
	cfg.FlushRows = 97 // many small blocks: many markers per window
	_, stop := e.start(cfg)
	e.waitCount("SELECT count() FROM ingest.metrics", uint64(len(pts)), time.Minute)
	stop()
	rolluptest.Settle(t, e.ch.Conn(), "ingest", time.Minute)

	type agg struct {
		points              uint64
		sum, min, max, last float64
		lastTS              int64
		distCount           uint64
		distSum             float64
	}
	for _, w := range []struct {
		table string
		size  int64
	}{{"metrics_1m", 60}, {"metrics_10m", 600}, {"metrics_60m", 3600}} {
		want := map[string]*agg{}
		for i, p := range pts {
			k := fmt.Sprintf("%s@%d", p.series, baseTime/1e9+p.ts/w.size*w.size)
			a := want[k]
			if a == nil {
				a = &agg{min: math.Inf(1), max: math.Inf(-1), lastTS: -1}
				want[k] = a
			}
			a.points++
			a.sum += p.value
			a.min, a.max = math.Min(a.min, p.value), math.Max(a.max, p.value)
			if ts := p.ts*1e9 + int64(i%1000); ts > a.lastTS {
				a.lastTS, a.last = ts, p.value
			}
			a.distCount += p.count
			a.distSum += p.sum
		}
		rows, err := e.ch.Conn().Query(context.Background(), "SELECT name, toUInt32(window_start), points, value_sum, value_min, value_max, value_last, dist_count, dist_sum FROM ingest."+w.table+" FINAL WHERE tenant = 'acme' AND points > 0")
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for rows.Next() {
			var (
				name string
				ws   uint32
				g    agg
			)
			if err := rows.Scan(&name, &ws, &g.points, &g.sum, &g.min, &g.max, &g.last, &g.distCount, &g.distSum); err != nil {
				t.Fatal(err)
			}
			got++
			k := fmt.Sprintf("%s@%d", name, ws)
			a := want[k]
			if a == nil {
				t.Errorf("%s: unexpected window %s", w.table, k)
				continue
			}
			if g.points != a.points || !near(g.sum, a.sum) || g.min != a.min || g.max != a.max || g.last != a.last ||
				g.distCount != a.distCount || !near(g.distSum, a.distSum) {
				t.Errorf("%s %s: got points=%d sum=%v min=%v max=%v last=%v dist_count=%d dist_sum=%v, want points=%d sum=%v min=%v max=%v last=%v dist_count=%d dist_sum=%v",
					w.table, k, g.points, g.sum, g.min, g.max, g.last, g.distCount, g.distSum, a.points, a.sum, a.min, a.max, a.last, a.distCount, a.distSum)
			}
		}
		rows.Close()
		if got != len(want) {
			t.Errorf("%s: %d windows, want %d", w.table, got, len(want))
		}
	}
}

// TestTheSameRecordAtTwoOffsetsAndAClientRetryCountOnceInEveryRollup is the roll-ups' exactness
// under duplicates that reach Kafka: one metric record produced twice (the same event id and
// key at two offsets, e.g. a producer retry), and a client retry of a whole request (a batch of
// records sent again: the same event ids at new offsets, in another partition). The loader
// loads every Kafka record (the raw table holds the duplicates without FINAL); each record
// counts once in metrics_1m, metrics_10m and metrics_60m, and every roll-up equals a fresh
// aggregation of metrics FINAL.
func TestTheSameRecordAtTwoOffsetsAndAClientRetryCountOnceInEveryRollup(t *testing.T) {
	e := newEnv(t, 2, []string{"ingest.acme"})
	rec := func(i int) *record.Record {
		r := makeRecord("acme", record.SignalMetric, i)
		r.Attributes = r.Attributes[:1]                            // a few series, many points each
		r.Timestamp = baseTime + int64(i)*7_000_000_123 + int64(i) // 7 s apart: 400 records span 47 minutes
		return r
	}
	var single, request, rest []*record.Record
	single = append(single, rec(0))
	for i := 1; i < 100; i++ {
		request = append(request, rec(i))
	}
	for i := 100; i < 400; i++ {
		rest = append(rest, rec(i))
	}
	// Partition 0: the single record, others, the single record again (two offsets).
	e.produce("ingest.acme", 0, single...)
	e.produce("ingest.acme", 0, rest[:150]...)
	e.produce("ingest.acme", 0, single...)
	// Partition 1: a request, more records, the same request again (a client retry).
	e.produce("ingest.acme", 1, request...)
	e.produce("ingest.acme", 1, rest[150:]...)
	e.produce("ingest.acme", 1, request...)
	const unique, kafkaRecords = 400, 400 + 1 + 99
	_, stop := e.start(e.config())
	e.waitCount("SELECT count() FROM ingest.metrics", kafkaRecords, time.Minute) // each Kafka record loaded once
	stop()
	if got := e.count("SELECT count() FROM ingest.metrics FINAL"); got != unique {
		t.Fatalf("metrics FINAL holds %d rows, want %d", got, unique)
	}

	rolluptest.Settle(t, e.ch.Conn(), "ingest", time.Minute)
	for _, l := range rolluptest.Levels {
		if got := e.count("SELECT toUInt64(sum(points)) FROM ingest." + l.Table + " FINAL WHERE tenant = 'acme' AND points > 0"); got != unique {
			t.Errorf("%s counts %d points, want %d: each record once", l.Table, got, unique)
		}
		// The duplicated record's window counts it once.
		w := (baseTime / 1e9) / l.Size * l.Size
		var n uint64
		if err := e.ch.Conn().QueryRow(context.Background(), "SELECT toUInt64(sum(points)) FROM ingest."+l.Table+" FINAL WHERE tenant = 'acme' AND points > 0 AND series_id = (SELECT any(series_id) FROM ingest.metrics WHERE event_id = ?) AND window_start = toDateTime(?)",
			string(single[0].EventID[:]), w).Scan(&n); err != nil {
			t.Fatal(err)
		}
		var want uint64
		if err := e.ch.Conn().QueryRow(context.Background(), "SELECT count() FROM ingest.metrics FINAL WHERE tenant = 'acme' AND series_id = (SELECT any(series_id) FROM ingest.metrics WHERE event_id = ?) AND intDiv(toUInt32(time), ?) * ? = ?",
			string(single[0].EventID[:]), l.Size, l.Size, w).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if n != want || want == 0 {
			t.Errorf("%s: the window of the record loaded twice counts %d points, want %d", l.Table, n, want)
		}
	}
	rolluptest.AssertExact(t, e.ch.Conn(), "ingest", "", "acme")
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestTheLoaderServiceRunsTheRollupWorker runs `ingest loader` as a service, with its defaults
// but a short roll-up interval: the roll-ups of what it loads appear without anything else
// running, and its /metrics registry has the worker's metrics; with rollup.disabled they do not.
func TestTheLoaderServiceRunsTheRollupWorker(t *testing.T) {
	e := newEnv(t, 1, []string{"ingest.acme"})
	var recs []*record.Record
	for i := range 50 {
		recs = append(recs, makeRecord("acme", record.SignalMetric, i))
	}
	e.produce("ingest.acme", 0, recs...)
	run := func(disabled bool) *prometheus.Registry {
		cfg := e.config()
		cfg.Rollup = loader.RollupConfig{Disabled: disabled, Interval: 100 * time.Millisecond}
		reg := prometheus.NewRegistry()
		s, err := loader.NewService(loader.ServiceConfig{Listen: loader.NoListener, Loader: cfg}, service.Settings{Log: e.log, Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		if (s.Rollups() == nil) != disabled {
			t.Fatalf("disabled %v: Rollups() = %v", disabled, s.Rollups())
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		return reg
	}
	reg := run(false)
	for _, l := range rolluptest.Levels { // 60m last: a cycle writes 1m, then 10m, then 60m
		e.waitCount("SELECT toUInt64(sum(points)) FROM ingest."+l.Table+" FINAL WHERE tenant = 'acme' AND points > 0", 50, time.Minute)
	}
	if got := testkit.MetricSum(t, reg, "ingest_rollup_windows_recomputed_total", "level", "60m"); got == 0 {
		t.Errorf("ingest_rollup_windows_recomputed_total{level=60m} = %v", got)
	}
	rolluptest.AssertExact(t, e.ch.Conn(), "ingest", "", "acme")
	if reg := run(true); testkit.MetricSum(t, reg, "ingest_rollup_cycles_total") != 0 || len(gatherNames(t, reg, "ingest_rollup_")) != 0 {
		t.Errorf("a loader with rollup.disabled registered the worker's metrics: %v", gatherNames(t, reg, "ingest_rollup_"))
	}
}

// gatherNames returns the names of reg's metric families that start with prefix.
func gatherNames(t *testing.T, reg *prometheus.Registry, prefix string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), prefix) {
			out = append(out, mf.GetName())
		}
	}
	return out
}
