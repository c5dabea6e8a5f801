package loader_test

import (
	"context"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ingestdev/ingest/internal/testkit"
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
	if got := testkit.MetricSum(t, reg, "ingest_loader_rows_inserted_total"); got != float64(len(want)) {
		t.Errorf("ingest_loader_rows_inserted_total = %v, want %d", got, len(want))
	}
	if got := testkit.MetricSum(t, reg, "ingest_loader_deadletter_total"); got != 0 {
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
	if got := testkit.MetricSum(t, reg, "ingest_loader_deadletter_total", "reason", loader.ReasonRecordCorrupt); got != 2 {
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
	if got := testkit.MetricSum(t, reg1, "ingest_loader_commit_errors_total"); got == 0 {
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
	if got := testkit.MetricSum(t, reg2, "ingest_loader_records_skipped_total"); got != 3000 {
		t.Errorf("second loader skipped %v records, want the 3000 the first one loaded", got)
	}
	if got := testkit.MetricSum(t, reg2, "ingest_loader_rows_inserted_total"); got != 300 {
		t.Errorf("second loader inserted %v rows, want the 300 new ones", got)
	}
}
