package recordtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/record/recordtest"
)

func batchOf(tenant string, recs ...record.Record) record.Batch {
	var b record.Builder
	b.Reset(tenant, 1_700_000_000_000_000_000)
	for i := range recs {
		b.Add(&recs[i])
	}
	return b.Batch()
}

func TestSinkRecordsCopiesOfWrittenBatches(t *testing.T) {
	var s recordtest.Sink
	ctx := context.Background()
	b1 := batchOf("a", record.Record{Signal: record.SignalLog, Body: "one"}, record.Record{Signal: record.SignalLog, Body: "two"})
	if err := s.Write(ctx, b1); err != nil {
		t.Fatal(err)
	}
	clear(b1.Data) // the writer reuses its buffer: the sink must have copied it
	if err := s.Write(ctx, batchOf("b", record.Record{Signal: record.SignalSpan, Name: "three"})); err != nil {
		t.Fatal(err)
	}
	if got := s.Batches(); len(got) != 2 || got[0].Tenant != "a" || got[0].Count != 2 || got[1].Tenant != "b" {
		t.Fatalf("batches: %+v", got)
	}
	recs, err := s.Records()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Tenant+":"+r.Body+r.Name)
	}
	if want := []string{"a:one", "a:two", "b:three"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("records %q, want %q", got, want)
	}
}

func TestSinkSetErrFailsWritesUntilCleared(t *testing.T) {
	var s recordtest.Sink
	ctx := context.Background()
	full := errors.New("sink full")
	s.SetErr(full)
	if err := s.Write(ctx, batchOf("a", record.Record{Signal: record.SignalLog})); !errors.Is(err, full) {
		t.Fatalf("Write with error set: got %v, want %v", err, full)
	}
	if len(s.Batches()) != 0 {
		t.Fatal("a failed write was recorded")
	}
	s.SetErr(nil)
	if err := s.Write(ctx, batchOf("a", record.Record{Signal: record.SignalLog})); err != nil {
		t.Fatalf("Write after SetErr(nil): %v", err)
	}
	if recs, err := s.Records(); err != nil || len(recs) != 1 {
		t.Fatalf("Records: %d, %v", len(recs), err)
	}
}

func TestSinkRecordsReportsCorruptBatch(t *testing.T) {
	var s recordtest.Sink
	if err := s.Write(context.Background(), record.Batch{Tenant: "a", Data: []byte{9, 0, 0}, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Records(); !errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("Records of a corrupt batch: got %v, want ErrCorrupt", err)
	}
}

func TestJSONNamesEveryFieldAndCarriesNonFiniteFloats(t *testing.T) {
	b := batchOf("acme",
		record.Record{Signal: record.SignalLog, Timestamp: 5, Body: "hi", SeverityText: "INFO",
			Attributes: []record.KV{{Key: "k", Value: "v"}}},
		record.Record{Signal: record.SignalMetric, Name: "m", MetricKind: record.MetricHistogram,
			HasDistribution: true, Count: 2, Sum: math.NaN(), HasMinMax: true, Min: math.Inf(-1), Max: 1,
			Buckets: []record.Bucket{{UpperBound: math.Inf(1), Count: 2}}},
		record.Record{Signal: record.SignalSpan, Name: "s", HasTrace: true, TraceID: [16]byte{1}, Duration: 7},
	)
	out, err := recordtest.JSON(b.Data)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("JSON output does not parse: %v\n%s", err, out)
	}
	if len(got) != 3 {
		t.Fatalf("%d objects, want 3:\n%s", len(got), out)
	}
	for field, want := range map[string]any{
		"0.tenant": "acme", "0.signal": "log", "0.body": "hi", "0.severity_text": "INFO", "0.timestamp": 5.0,
		"0.received_at": 1.7e18,
		"1.signal":      "metric", "1.sum": "NaN", "1.min": "-Inf", "1.max": 1.0, "1.count": 2.0,
		"2.signal": "span", "2.trace_id": "01000000000000000000000000000000", "2.duration": 7.0,
	} {
		i := int(field[0] - '0')
		if v := got[i][field[2:]]; v != want {
			t.Errorf("%s = %#v, want %#v", field, v, want)
		}
	}
	if _, ok := got[0]["event_id"].(string); !ok {
		t.Error("no event_id")
	}
	if _, ok := got[0]["duration"]; ok {
		t.Error("a log has span fields")
	}
	if buckets, ok := got[1]["buckets"].([]any); !ok || len(buckets) != 1 || buckets[0].([]any)[0] != "+Inf" {
		t.Errorf("buckets = %#v, want [[+Inf 2]]", got[1]["buckets"])
	}
}

func TestJSONReportsCorruptData(t *testing.T) {
	if _, err := recordtest.JSON([]byte{1, 2}); !errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}
