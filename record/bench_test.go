package record_test

import (
	"testing"

	"github.com/ingestdev/ingest/record"
)

func reportRecords(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

var benchRecords = []struct {
	name string
	new  func() *record.Record
}{
	{"log", logWithTrace},
	{"histogram", metricHistogram},
}

func BenchmarkAppend(b *testing.B) {
	for _, c := range benchRecords {
		b.Run(c.name, func(b *testing.B) {
			r := c.new()
			buf := record.Append(nil, r)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = record.Append(buf[:0], r)
			}
			reportRecords(b)
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range benchRecords {
		b.Run(c.name, func(b *testing.B) {
			buf := record.Append(nil, c.new())
			var r record.Record
			if err := record.Decode(buf, &r); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if err := record.Decode(buf, &r); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b)
		})
	}
}

// BenchmarkBuilderAdd adds records without an event id, so each Add derives one, in requests of
// 1000 records (a Reset every 1000 Adds, as the normalizer does per request).
func BenchmarkBuilderAdd(b *testing.B) {
	for _, c := range benchRecords {
		b.Run(c.name, func(b *testing.B) {
			r := c.new()
			b.SetBytes(int64(len(record.Append(nil, r))))
			b.ReportAllocs()
			var bld record.Builder
			bld.Reset("acme-prod", 1)
			i := 0
			for b.Loop() {
				if i++; i%1000 == 0 {
					bld.Reset("acme-prod", 1)
				}
				r.EventID = record.ID{}
				r.Timestamp = int64(i) // distinct records, as in real traffic
				bld.Add(r)
			}
			reportRecords(b)
		})
	}
}

func BenchmarkIDFromString(b *testing.B) {
	for name, s := range map[string]string{
		"uuid":  "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
		"other": "a-client-generated-event-identifier-that-is-long",
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				record.IDFromString("acme-prod", s)
			}
		})
	}
}
