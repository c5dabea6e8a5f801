package sinkwriter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter"
)

// TestHugeRecordCountIsRefusedBeforeAllocating checks that a tiny batch announcing 10,000,000
// records is refused with 400 before the writer allocates a structure per announced record:
// the count is bounded by what the body can hold (record.FrameHeaderLen+record.MinHeaderLen
// bytes per record) first.
func TestHugeRecordCountIsRefusedBeforeAllocating(t *testing.T) {
	const announced = 10_000_000
	c := newCluster(t)
	w, _ := newWriter(t, testConfig(c.ListenAddrs()))
	b := makeBatch("acme", 1, 10, 1)
	if max := len(b.Data) / (record.FrameHeaderLen + record.MinHeaderLen); max >= announced {
		t.Fatalf("a batch of %d bytes can hold %d records", len(b.Data), max)
	}
	h := w.Handler()

	// allocated returns the bytes allocated by f, averaged over runs calls.
	allocated := func(runs int, f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range runs {
			f()
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
	}
	const bound = 64 << 10 // a kgo.Record is over 100 bytes: 10M of them are a gigabyte

	perRequest := allocated(10, func() {
		req := httptest.NewRequest(http.MethodPost, sinkwriter.PathBatches, bytes.NewReader(b.Data))
		req.Header.Set(sinkwriter.HeaderTenant, "acme")
		req.Header.Set(sinkwriter.HeaderRecordCount, strconv.Itoa(announced))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body sinkwriter.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 400 || body.Error.Reason != sinkwriter.ReasonRecordCountMismatch {
			t.Fatalf("answer %d %q (%v), want 400 %s", rec.Code, rec.Body, err, sinkwriter.ReasonRecordCountMismatch)
		}
	})
	if perRequest > bound {
		t.Errorf("a refused request allocated %d bytes, want at most %d", perRequest, bound)
	}

	perWrite := allocated(10, func() {
		err := w.Write(context.Background(), record.Batch{Tenant: "acme", Data: b.Data, Count: announced})
		var be *sinkwriter.BatchError
		if !errors.As(err, &be) || be.Reason != sinkwriter.ReasonRecordCountMismatch {
			t.Fatalf("Write = %v, want a %s batch error", err, sinkwriter.ReasonRecordCountMismatch)
		}
	})
	if perWrite > bound {
		t.Errorf("a refused Write allocated %d bytes, want at most %d", perWrite, bound)
	}
}
