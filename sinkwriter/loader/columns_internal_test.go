package loader

import (
	"strings"
	"testing"

	"github.com/ingestdev/ingest/record"
)

func TestColumnValuesFollowTheInsertColumnList(t *testing.T) {
	for tb := range numTables {
		c := newColumns(tb)
		var r record.Record
		r.Signal = record.Signal(tb.kind() + 1)
		c.add(&r, "ingest.acme", 0, 0)
		if got, want := len(c.values(0, 1)), len(columnNames(tb)); got != want {
			t.Errorf("%s: %d values, %d columns", tb, got, want)
		}
		if q := insertQuery("ingest", tb.String(), tb); !strings.HasPrefix(q, "INSERT INTO `ingest`.`"+tb.String()+"` (tenant, ") {
			t.Errorf("insert query %q", q)
		}
	}
}

func TestDateTimeClampsToItsRange(t *testing.T) {
	for ns, want := range map[int64]int64{-1: 0, 0: 0, 1_700_000_000_123_456_789: 1_700_000_000, 1 << 62: 1<<32 - 1} {
		if got := dateTime(ns); got != want {
			t.Errorf("dateTime(%d) = %d, want %d", ns, got, want)
		}
	}
}

// FuzzColumnsTakeAnyDecodableRecord feeds arbitrary values through the loader's parsing path
// (route, Decode, columns): it must never panic, and a decoded record becomes one complete row.
func FuzzColumnsTakeAnyDecodableRecord(f *testing.F) {
	for _, sig := range []record.Signal{record.SignalLog, record.SignalMetric, record.SignalSpan} {
		r := record.Record{Tenant: "acme", Signal: sig, Name: "n", Attributes: []record.KV{{Key: "k", Value: "v"}},
			HasDistribution: true, Buckets: []record.Bucket{{UpperBound: 1, Count: 2}}, Quantiles: []record.Quantile{{Quantile: 0.5, Value: 1}}}
		f.Add(record.Append(nil, &r))
	}
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, v []byte) {
		tb, routeErr := route("ingest.t", v)
		var r record.Record
		if err := record.Decode(v, &r); err != nil {
			return
		}
		if routeErr != nil {
			t.Fatalf("route refused a decodable record of signal %v: %v", r.Signal, routeErr)
		}
		c := newColumns(tb)
		c.add(&r, "t", 1, 2)
		if c.n != 1 || c.attrKeys.ends[0] != len(r.Attributes) || len(c.eventID.data) != 16 {
			t.Fatalf("row not complete: n=%d", c.n)
		}
		_ = c.values(0, 1)
	})
}

func TestShadowTopicsRouteToTheShadowTableSet(t *testing.T) {
	for _, tc := range []struct {
		topic string
		sig   record.Signal
		want  string
	}{
		{"ingest.acme", record.SignalLog, "logs"},
		{"ingest.acme", record.SignalMetric, "metrics"},
		{"ingest.acme", record.SignalSpan, "spans"},
		{"ingest.acme.shadow", record.SignalLog, "logs_shadow"},
		{"ingest.acme.shadow", record.SignalMetric, "metrics_shadow"},
		{"ingest.acme.shadow", record.SignalSpan, "spans_shadow"},
	} {
		r := &record.Record{Tenant: "acme", Signal: tc.sig, Name: "n"}
		tb, err := route(tc.topic, record.Append(nil, r))
		if err != nil || tb.String() != tc.want {
			t.Errorf("route(%q, %v) = %v, %v; want %s", tc.topic, tc.sig, tb, err, tc.want)
		}
		if got := columnNames(tb); len(got) != len(columnNames(tb.kind())) {
			t.Errorf("%s has %d columns, its live table %d", tb, len(got), len(columnNames(tb.kind())))
		}
	}
	if got := table(numTables).String(); got != "table(6)" {
		t.Errorf("out of range table = %q", got)
	}
}
