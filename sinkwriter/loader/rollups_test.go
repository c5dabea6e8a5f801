package loader_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ingestdev/ingest/record"
)

// TestRollupsAggregateKnownPointsAt1m10mAnd60m loads gauge, counter and histogram points of two
// series spread over three hours and checks every roll-up window against values computed here.
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
		recs[i%2] = append(recs[i%2], r) // two partitions: the views see interleaved blocks
	}
	e.produce("ingest.acme", 0, recs[0]...)
	e.produce("ingest.acme", 1, recs[1]...)
	cfg := e.config()
	cfg.FlushRows = 97 // many small blocks: aggregates must merge across them
	_, stop := e.start(cfg)
	e.waitCount("SELECT count() FROM ingest.metrics", uint64(len(pts)), time.Minute)
	stop()

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
		rows, err := e.ch.Conn().Query(context.Background(), "SELECT name, toUInt32(window_start), countMerge(points), sumMerge(value_sum), minMerge(value_min), maxMerge(value_max), argMaxMerge(value_last), sumMerge(dist_count), sumMerge(dist_sum) FROM ingest."+w.table+" WHERE tenant = 'acme' GROUP BY name, window_start")
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

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
