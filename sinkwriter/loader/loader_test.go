package loader_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

func TestLoaderLoadsEveryRecordWithEveryFieldExactlyOnce(t *testing.T) {
	topics := []string{"ingest.acme", "ingest.globex"}
	e := newEnv(t, 3, topics)
	want := map[record.ID]*record.Record{}
	perSignal := map[record.Signal]int{}
	i := 0
	for _, topic := range topics {
		tenant := topic[len("ingest."):]
		for p := int32(0); p < 3; p++ {
			var recs []*record.Record
			for range 200 {
				r := makeRecord(tenant, []record.Signal{record.SignalLog, record.SignalMetric, record.SignalSpan}[i%3], i)
				recs = append(recs, r)
				want[r.EventID] = r
				perSignal[r.Signal]++
				i++
			}
			e.produce(topic, p, recs...)
		}
	}
	reg, stop := e.start(e.config())
	e.waitCount("SELECT count() FROM ingest.logs", uint64(perSignal[record.SignalLog]), time.Minute)
	e.waitCount("SELECT count() FROM ingest.metrics", uint64(perSignal[record.SignalMetric]), time.Minute)
	e.waitCount("SELECT count() FROM ingest.spans", uint64(perSignal[record.SignalSpan]), time.Minute)
	stop()

	got := readBack(t, e)
	if len(got) != len(want) {
		t.Fatalf("read back %d records, want %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Fatalf("record %s missing", id)
		}
		if !reflect.DeepEqual(normalize(g), normalize(w)) {
			t.Fatalf("record %s round trip:\n got %+v\nwant %+v", id, *g, *w)
		}
	}
	// The ledger holds, per table and partition, the highest offset loaded.
	if n := e.count("SELECT count() FROM (SELECT table_name, kafka_topic, kafka_partition, max(kafka_offset) AS o FROM ingest.loader_offsets GROUP BY table_name, kafka_topic, kafka_partition HAVING o >= 197)"); n != 3*2*3 {
		t.Errorf("ledger entries near the end of each partition = %d, want 18", n)
	}
	if got := metricSum(t, reg, "ingest_loader_rows_inserted_total"); got != float64(len(want)) {
		t.Errorf("ingest_loader_rows_inserted_total = %v, want %d", got, len(want))
	}
	if got := metricSum(t, reg, "ingest_loader_deadletter_total"); got != 0 {
		t.Errorf("ingest_loader_deadletter_total = %v, want 0", got)
	}
}

// readBack reads every row of the three tables back into records.
func readBack(t *testing.T, e *env) map[record.ID]*record.Record {
	t.Helper()
	ctx := context.Background()
	out := map[record.ID]*record.Record{}
	common := "tenant, time, time_unix_nano, event_id, received_unix_nano, name, scope, unit, attr_keys, attr_values, resource_keys, resource_values, has_trace, trace_id, span_id, parent_span_id"
	queries := map[record.Signal]string{
		record.SignalLog:    "SELECT " + common + ", severity_number, severity_text, body FROM ingest.logs FINAL",
		record.SignalMetric: "SELECT " + common + ", kind, temporality, monotonic, value, has_distribution, dist_count, dist_sum, has_min_max, dist_min, dist_max, bucket_bounds, bucket_counts, quantiles, quantile_values FROM ingest.metrics FINAL",
		record.SignalSpan:   "SELECT " + common + ", duration_ns, span_kind, status_code, status_message FROM ingest.spans FINAL",
	}
	for sig, q := range queries {
		rows, err := e.ch.Conn().Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			r := &record.Record{Signal: sig}
			var (
				tm                            time.Time
				eventID, traceID, span, pspan string
				hasTrace                      uint8
				ak, av, rk, rv                []string
			)
			dest := []any{&r.Tenant, &tm, &r.Timestamp, &eventID, &r.ReceivedAt, &r.Name, &r.Scope, &r.Unit, &ak, &av, &rk, &rv, &hasTrace, &traceID, &span, &pspan}
			var (
				kind, temp, mono, hasDist, hasMM uint8
				bounds, quants, qvals            []float64
				counts                           []uint64
			)
			switch sig {
			case record.SignalLog:
				dest = append(dest, &r.SeverityNumber, &r.SeverityText, &r.Body)
			case record.SignalMetric:
				dest = append(dest, &kind, &temp, &mono, &r.Value, &hasDist, &r.Count, &r.Sum, &hasMM, &r.Min, &r.Max, &bounds, &counts, &quants, &qvals)
			case record.SignalSpan:
				dest = append(dest, &r.Duration, &r.SpanKind, &r.StatusCode, &r.StatusMessage)
			}
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			if tm.Unix() != r.Timestamp/1e9 {
				t.Errorf("time %v does not match time_unix_nano %d", tm, r.Timestamp)
			}
			copy(r.EventID[:], eventID)
			copy(r.TraceID[:], traceID)
			copy(r.SpanID[:], span)
			copy(r.ParentSpanID[:], pspan)
			r.HasTrace = hasTrace == 1
			for i := range ak {
				r.Attributes = append(r.Attributes, record.KV{Key: ak[i], Value: av[i]})
			}
			for i := range rk {
				r.Resource = append(r.Resource, record.KV{Key: rk[i], Value: rv[i]})
			}
			if sig == record.SignalMetric {
				r.MetricKind, r.Temporality, r.Monotonic = record.MetricKind(kind), record.Temporality(temp), mono == 1
				r.HasDistribution, r.HasMinMax = hasDist == 1, hasMM == 1
				for i := range bounds {
					r.Buckets = append(r.Buckets, record.Bucket{UpperBound: bounds[i], Count: counts[i]})
				}
				for i := range quants {
					r.Quantiles = append(r.Quantiles, record.Quantile{Quantile: quants[i], Value: qvals[i]})
				}
			}
			if _, dup := out[r.EventID]; dup {
				t.Errorf("event %s read twice", r.EventID)
			}
			out[r.EventID] = r
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// normalize makes empty slices nil, so that records compare equal however they were built.
func normalize(r *record.Record) record.Record {
	c := *r
	if len(c.Attributes) == 0 {
		c.Attributes = nil
	}
	if len(c.Resource) == 0 {
		c.Resource = nil
	}
	if len(c.Buckets) == 0 {
		c.Buckets = nil
	}
	if len(c.Quantiles) == 0 {
		c.Quantiles = nil
	}
	return c
}

func TestPoisonRecordsGoToTheDeadLetterTopicAndTheirPartitionKeepsFlowing(t *testing.T) {
	e := newEnv(t, 1, []string{"ingest.acme"})
	cfg := e.config()
	var good []*record.Record
	for i := range 10 {
		good = append(good, makeRecord("acme", record.SignalLog, i))
	}
	e.produce("ingest.acme", 0, good[:4]...)
	corrupt := record.Append(nil, makeRecord("acme", record.SignalLog, 99))
	e.produceRaw(
		&kgo.Record{Topic: "ingest.acme", Key: []byte("garbage"), Value: []byte("this is not a record")}, // offset 4
		&kgo.Record{Topic: "ingest.acme", Key: []byte("truncated"), Value: corrupt[:len(corrupt)-3]},     // offset 5
	)
	e.produce("ingest.acme", 0, good[4:]...)
	reg, stop := e.start(cfg)

	e.waitCount("SELECT count() FROM ingest.logs FINAL", 10, time.Minute)
	dead := consumeAll(t, e, loader.DefaultDeadLetterTopic, 2)
	stop()
	for i, d := range dead {
		h := headers(d)
		wantOffset := strconv.Itoa(4 + i)
		if h[loader.HeaderReason] != loader.ReasonRecordCorrupt || h[loader.HeaderSourceTopic] != "ingest.acme" ||
			h[loader.HeaderSourcePartition] != "0" || h[loader.HeaderSourceOffset] != wantOffset || h[loader.HeaderError] == "" {
			t.Errorf("dead letter %d headers = %v, want reason %s from ingest.acme/0@%s with an error", i, h, loader.ReasonRecordCorrupt, wantOffset)
		}
	}
	if h := headers(dead[1]); h[loader.HeaderTable] != "logs" {
		t.Errorf("truncated record's table header = %q, want logs (its header names the signal)", h[loader.HeaderTable])
	}
	if string(dead[0].Value) != "this is not a record" || string(dead[0].Key) != "garbage" {
		t.Errorf("dead letter 0 = %q/%q, want the original key and value", dead[0].Key, dead[0].Value)
	}
	if got := metricSum(t, reg, "ingest_loader_deadletter_total", "reason", loader.ReasonRecordCorrupt); got != 2 {
		t.Errorf("ingest_loader_deadletter_total{reason=%q} = %v, want 2", loader.ReasonRecordCorrupt, got)
	}
	// The records after the poison were loaded: offsets 6..11 are in the table.
	if n := e.count("SELECT count() FROM ingest.logs WHERE kafka_offset > 5"); n != 6 {
		t.Errorf("rows after the poison = %d, want 6", n)
	}
}

// consumeAll reads n records from topic (from its start) or fails after a minute.
func consumeAll(t *testing.T, e *env, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d records from %s, want %d", len(out), topic, n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func headers(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, kv := range r.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

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

// TestRecordsReadAgainAfterLostCommitsAreSkippedByTheLedger loads with every offset commit
// failing, then starts a second loader, which reads every record again from the start: the
// ledger must make it skip them all, and load only what is new.
func TestRecordsReadAgainAfterLostCommitsAreSkippedByTheLedger(t *testing.T) {
	e := newEnv(t, 3, []string{"ingest.acme"})
	addWitnesses(t, e)
	var failCommits atomic.Bool
	failCommits.Store(true)
	e.kafka.ControlKey(kmsg.OffsetCommit.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.kafka.KeepControl()
		if !failCommits.Load() {
			return nil, nil, false
		}
		creq := req.(*kmsg.OffsetCommitRequest)
		resp := creq.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range creq.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	p := &produced{table: map[string]uint64{}}
	produceMixed(e, "ingest.acme", 3, 0, 3000, 500, 0, p)

	reg1, stop1 := e.start(e.config())
	for _, table := range []string{"logs", "metrics", "spans"} {
		e.waitCount("SELECT count() FROM ingest.test_witness_"+table, p.get(table), time.Minute)
	}
	stop1()
	if got := metricSum(t, reg1, "ingest_loader_commit_errors_total"); got == 0 {
		t.Fatal("no commit failed: the test did not lose the commits")
	}

	failCommits.Store(false)
	reg2, stop2 := e.start(e.config())
	produceMixed(e, "ingest.acme", 3, 3000, 300, 300, 0, p)
	for _, table := range []string{"logs", "metrics", "spans"} {
		e.waitCount("SELECT count() FROM ingest.test_witness_"+table, p.get(table), time.Minute)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate, if any, would be written by now
	stop2()
	assertExactlyOnce(t, e, p)
	if got := metricSum(t, reg2, "ingest_loader_records_skipped_total"); got != 3000 {
		t.Errorf("second loader skipped %v records, want the 3000 the first one loaded", got)
	}
	if got := metricSum(t, reg2, "ingest_loader_rows_inserted_total"); got != 300 {
		t.Errorf("second loader inserted %v rows, want the 300 new ones", got)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
