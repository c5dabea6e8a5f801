package record_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/record"
)

func TestPeekHeaderReadsSignalEventIDTenantAndTimestampOfEverySignal(t *testing.T) {
	for _, f := range []func() *record.Record{logWithTrace, logPlain, metricGauge, metricHistogram, metricSummary, span} {
		r := f()
		rec := record.Append(nil, r)
		h, err := record.PeekHeader(rec)
		if err != nil {
			t.Fatalf("%s: %v", r.Signal, err)
		}
		if h.Signal != r.Signal || !bytes.Equal(h.EventID, r.EventID[:]) || string(h.Tenant) != r.Tenant || h.Timestamp != r.Timestamp {
			t.Errorf("PeekHeader = {%s %x %q %d}, want {%s %x %q %d}", h.Signal, h.EventID, h.Tenant, h.Timestamp, r.Signal, r.EventID, r.Tenant, r.Timestamp)
		}
		if len(h.EventID) != record.EventIDLen || cap(h.EventID) != record.EventIDLen {
			t.Errorf("event id has len %d cap %d, want %d: appending to it must not overwrite the record", len(h.EventID), cap(h.EventID), record.EventIDLen)
		}
		if &h.EventID[0] != &rec[offEventID] {
			t.Errorf("event id does not alias the record")
		}
	}
}

func TestPeekHeaderAcceptsLongTenantAndEmptyTenant(t *testing.T) {
	for _, tenant := range []string{"", strings.Repeat("t", 200)} { // 200: a two-byte uvarint length
		rec := record.Append(nil, &record.Record{Tenant: tenant, Signal: record.SignalSpan})
		h, err := record.PeekHeader(rec)
		if err != nil || string(h.Tenant) != tenant {
			t.Errorf("PeekHeader(tenant of %d bytes) = %q, %v", len(tenant), h.Tenant, err)
		}
	}
}

func TestPeekHeaderRejectsUnknownVersion(t *testing.T) {
	rec := record.Append(nil, metricGauge())
	rec[0] = 2
	if _, err := record.PeekHeader(rec); !errors.Is(err, record.ErrVersion) {
		t.Errorf("PeekHeader(version 2) = %v, want ErrVersion", err)
	}
}

func TestPeekHeaderRejectsUnknownSignal(t *testing.T) {
	for _, s := range []byte{0, 4, 255} {
		rec := record.Append(nil, metricGauge())
		rec[offSignal] = s
		if _, err := record.PeekHeader(rec); !errors.Is(err, record.ErrCorrupt) {
			t.Errorf("PeekHeader(signal %d) = %v, want ErrCorrupt", s, err)
		}
	}
}

// Every prefix that cuts the header or the tenant is rejected; a prefix that holds the tenant is
// accepted (PeekHeader does not read further).
func TestPeekHeaderRejectsEveryTruncationOfHeaderAndTenant(t *testing.T) {
	r := logWithTrace()
	rec := record.Append(nil, r)
	end := headerSize + 1 + len(r.Tenant)
	for n := range end {
		if _, err := record.PeekHeader(rec[:n]); !errors.Is(err, record.ErrCorrupt) {
			t.Errorf("PeekHeader(first %d bytes) = %v, want ErrCorrupt", n, err)
		}
	}
	if h, err := record.PeekHeader(rec[:end]); err != nil || string(h.Tenant) != r.Tenant {
		t.Errorf("PeekHeader(header and tenant only) = %q, %v", h.Tenant, err)
	}
}

func TestPeekHeaderRejectsMalformedTenantLength(t *testing.T) {
	rec := record.Append(nil, metricGauge())[:headerSize]
	rec = append(rec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01) // overflowing uvarint
	if _, err := record.PeekHeader(rec); !errors.Is(err, record.ErrCorrupt) {
		t.Errorf("PeekHeader(overflowing tenant length) = %v, want ErrCorrupt", err)
	}
}

func TestMinHeaderLenIsTheShortestRecord(t *testing.T) {
	rec := record.Append(nil, &record.Record{Signal: record.SignalLog})[:record.MinHeaderLen]
	if _, err := record.PeekHeader(rec); err != nil {
		t.Errorf("PeekHeader(MinHeaderLen bytes) = %v", err)
	}
}

func TestPeekHeaderDoesNotAllocate(t *testing.T) {
	rec := record.Append(nil, logWithTrace())
	if n := testing.AllocsPerRun(100, func() {
		if _, err := record.PeekHeader(rec); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("PeekHeader allocates %v times, want 0", n)
	}
}

func FuzzPeekHeader(f *testing.F) {
	f.Add(record.Append(nil, logWithTrace()))
	f.Add(record.Append(nil, span())[:headerSize+1])
	f.Fuzz(func(t *testing.T, rec []byte) {
		h, err := record.PeekHeader(rec)
		if err != nil {
			return
		}
		// What PeekHeader accepts, Decode reads the same way (when it accepts the whole record).
		var r record.Record
		if record.Decode(rec, &r) == nil {
			if r.Signal != h.Signal || string(r.EventID[:]) != string(h.EventID) || r.Tenant != string(h.Tenant) {
				t.Fatalf("PeekHeader = {%s %x %q}, Decode = {%s %x %q}", h.Signal, h.EventID, h.Tenant, r.Signal, r.EventID, r.Tenant)
			}
		}
	})
}

func BenchmarkPeekHeader(b *testing.B) {
	rec := record.Append(nil, logWithTrace())
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := record.PeekHeader(rec); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b)
}
