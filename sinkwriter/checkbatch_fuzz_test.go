package sinkwriter

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/record"
)

// FuzzCheckBatch feeds arbitrary bodies to the batch check of the internal API: it must never
// panic, and a batch it accepts must frame exactly count records of the tenant, each with an
// event id to key it.
func FuzzCheckBatch(f *testing.F) {
	var b record.Builder
	b.Reset("acme", time.Now().UnixNano())
	for i := range 3 {
		b.Add(&record.Record{Signal: record.SignalLog, Body: string(rune('a' + i))})
	}
	f.Add(b.Batch().Data, 3)
	f.Add(b.Batch().Data[:40], 1)
	f.Add([]byte{}, 0)
	f.Add([]byte{255, 255, 255, 255}, 1)
	w, err := New(Config{Brokers: []string{"127.0.0.1:1"}, MaxRecordBytes: 1 << 10}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(w.closeClients)
	f.Fuzz(func(t *testing.T, data []byte, count int) {
		err := w.checkHeader("acme", int64(len(data)), count)
		var recs []kgo.Record
		if err == nil {
			recs = make([]kgo.Record, count)
			err = w.checkRecords("acme", data, recs)
		}
		if err != nil {
			var be *BatchError
			if !errors.As(err, &be) || be.Status < 400 || be.Status > 413 || be.Reason == "" {
				t.Fatalf("checkBatch error %v is not a BatchError with a 4xx", err)
			}
			return
		}
		n := 0
		if err := record.Frames(data, func(rec []byte) error {
			n++
			h, err := record.PeekHeader(rec)
			if err != nil || len(h.EventID) != record.EventIDLen {
				t.Fatalf("accepted a record of %d bytes without a valid header (%v): no room for an event id", len(rec), err)
			}
			if r := recs[n-1]; string(r.Value) != string(rec) || string(r.Key) != string(h.EventID) {
				t.Fatalf("record %d: key %x value %x, want the record and its event id", n, r.Key, r.Value)
			}
			return nil
		}); err != nil {
			t.Fatalf("accepted a batch whose frames are corrupt: %v", err)
		}
		if n != count {
			t.Fatalf("accepted %d records announced as %d", n, count)
		}
	})
}
