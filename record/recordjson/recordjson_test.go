package recordjson_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/record/recordjson"
	"github.com/ingestdev/ingest/record/recordtest"
)

// goldenRecords reads the frozen records of package record.
func goldenRecords(t *testing.T) map[string][]byte { return recordtest.GoldenRecords(t, "../testdata") }

// TestEveryGoldenRecordRoundTrips: Marshal then Unmarshal gives a record that encodes to the
// golden bytes, byte for byte; the JSON is valid JSON (invalid UTF-8 and infinities included).
func TestEveryGoldenRecordRoundTrips(t *testing.T) {
	for name, golden := range goldenRecords(t) {
		var r record.Record
		if err := record.Decode(golden, &r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		js, err := recordjson.Marshal(&r)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		if !json.Valid(js) || bytes.ContainsRune(js, '\n') {
			t.Fatalf("%s: not one line of valid JSON:\n%s", name, js)
		}
		var back record.Record
		if err := recordjson.Unmarshal(js, &back); err != nil {
			t.Fatalf("%s: Unmarshal: %v\n%s", name, err, js)
		}
		if got := record.Append(nil, &back); !bytes.Equal(got, golden) {
			t.Errorf("%s: the round trip changed the record\nJSON: %s", name, js)
		}
	}
}

// TestTheJSONNamesWhatItCarries: the fields an operator reads, invalid UTF-8 as base64 and
// non-finite floats as strings.
func TestTheJSONNamesWhatItCarries(t *testing.T) {
	r := &record.Record{Tenant: "acme", Signal: record.SignalMetric, Timestamp: 1_700_000_000_123_456_789, Name: "latency",
		Attributes: []record.KV{{Key: "k", Value: "v\xff"}}, MetricKind: record.MetricHistogram, HasDistribution: true,
		Count: 3, Sum: 1.5, Buckets: []record.Bucket{{UpperBound: 1, Count: 1}, {UpperBound: math.Inf(1), Count: 2}}}
	js, err := recordjson.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"tenant":"acme"`, `"signal":"metric"`, `"time":"2023-11-14T22:13:20.123456789Z"`,
		`"value":{"base64":"dv8="}`, `"upper_bound":"+Inf"`, `"count":3`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s:\n%s", want, js)
		}
	}
	var back record.Record
	if err := recordjson.Unmarshal([]byte(`{"tenant":"a","signal":"log","event_id":"00000000000000000000000000000000","time_unix_nano":1,"received_unix_nano":1,"name":"","scope":"","unit":"","attributes":[],"resource":[],"value":1}`), &back); err == nil ||
		!strings.Contains(err.Error(), "a metric field is not a field of a log record") {
		t.Errorf("a log with a metric value: %v", err)
	}
	if err := recordjson.Unmarshal([]byte(`{"tenant":"a","bogus":1}`), &back); err == nil {
		t.Error("an unknown field was taken")
	}
}

// TestScanLinesSplitsKcatOutput: records printed one per line (kcat -C -f '%s\n'), one of
// them holding newline bytes, a corrupt line among them and no newline after the last: every
// record is found at its offset, the corrupt line is reported once and skipped.
func TestScanLinesSplitsKcatOutput(t *testing.T) {
	var stream []byte
	var want [][]byte
	var offsets []int64
	add := func(rec []byte) {
		offsets = append(offsets, int64(len(stream)))
		want = append(want, rec)
		stream = append(append(stream, rec...), '\n')
	}
	for _, name := range []string{"log_plain.golden", "metric_histogram.golden", "span.golden"} {
		add(goldenRecords(t)[name])
	}
	add(record.Append(nil, &record.Record{Tenant: "acme", Signal: record.SignalLog, Body: "two\nlines\n\n", Attributes: []record.KV{{Key: "\n", Value: "\n"}}}))
	corruptAt := int64(len(stream))
	stream = append(stream, "not a record\n"...)
	add(goldenRecords(t)["log_trace.golden"])
	stream = stream[:len(stream)-1] // the last without its newline

	var got [][]byte
	var at []int64
	var bad []int64
	err := recordjson.ScanLines(bytes.NewReader(stream), func(rec []byte, _ *record.Record, off int64) error {
		got = append(got, append([]byte(nil), rec...))
		at = append(at, off)
		return nil
	}, func(off int64, n int, err error) { bad = append(bad, off) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("found %d records, want %d (offsets %v, bad %v)", len(got), len(want), at, bad)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) || at[i] != offsets[i] {
			t.Errorf("record %d at %d differs (want offset %d)", i, at[i], offsets[i])
		}
	}
	if len(bad) != 1 || bad[0] != corruptAt {
		t.Errorf("corrupt lines reported at %v, want once at %d", bad, corruptAt)
	}
}
