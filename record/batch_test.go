package record_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ingestdev/ingest/record"
)

// build adds fresh copies of the records made by each function to a builder reset for tenant
// and returns the ids they got and the batch.
func build(b *record.Builder, tenant string, receivedAt int64, recs ...func() *record.Record) ([]record.ID, record.Batch) {
	b.Reset(tenant, receivedAt)
	var ids []record.ID
	for _, f := range recs {
		r := f()
		b.Add(r)
		ids = append(ids, r.EventID)
	}
	return ids, b.Batch()
}

// withoutID returns a function making the records of f with their event id cleared.
func withoutID(f func() *record.Record) func() *record.Record {
	return func() *record.Record {
		r := f()
		r.EventID = record.ID{}
		return r
	}
}

// decodeAll decodes every frame of data.
func decodeAll(t *testing.T, data []byte) []record.Record {
	t.Helper()
	var out []record.Record
	err := record.Frames(data, func(rec []byte) error {
		var r record.Record
		if err := record.Decode(rec, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Frames: %v", err)
	}
	return out
}

var request = []func() *record.Record{
	withoutID(logWithTrace), withoutID(logPlain), withoutID(metricGauge), withoutID(metricSum),
	withoutID(metricHistogram), withoutID(metricSummary), withoutID(span),
}

func TestBuilderDerivedIDIsDeterministic(t *testing.T) {
	var b1, b2 record.Builder
	ids1, batch1 := build(&b1, "acme-prod", 1, request...)
	data1 := bytes.Clone(batch1.Data)
	ids2, batch2 := build(&b2, "acme-prod", 1, request...)
	for i := range ids1 {
		if ids1[i].IsZero() {
			t.Errorf("record %d: no id derived", i)
		}
		if ids1[i] != ids2[i] {
			t.Errorf("record %d: id %s, then %s from a fresh builder", i, ids1[i], ids2[i])
		}
	}
	if !bytes.Equal(data1, batch2.Data) {
		t.Error("the same request encodes to different batches")
	}
	seen := map[record.ID]int{}
	for i, id := range ids1 {
		if j, dup := seen[id]; dup {
			t.Errorf("records %d and %d share id %s", j, i, id)
		}
		seen[id] = i
	}
}

func TestBuilderDerivedIDDependsOnTenant(t *testing.T) {
	var b record.Builder
	a, _ := build(&b, "tenant-a", 1, request...)
	other, _ := build(&b, "tenant-b", 1, request...)
	for i := range a {
		if a[i] == other[i] {
			t.Errorf("record %d: tenant-a and tenant-b both got id %s", i, a[i])
		}
	}
}

func TestBuilderDerivedIDDoesNotDependOnReceivedAt(t *testing.T) {
	var b record.Builder
	first, _ := build(&b, "acme-prod", 1_700_000_000_000_000_000, request...)
	retry, batch := build(&b, "acme-prod", 1_700_000_060_000_000_000, request...)
	for i := range first {
		if first[i] != retry[i] {
			t.Errorf("record %d: id %s, then %s when received a minute later", i, first[i], retry[i])
		}
	}
	for i, r := range decodeAll(t, batch.Data) {
		if r.ReceivedAt != 1_700_000_060_000_000_000 {
			t.Errorf("record %d: received at %d, want the builder's", i, r.ReceivedAt)
		}
	}
}

func TestBuilderDerivedIDDependsOnContent(t *testing.T) {
	var b record.Builder
	base, _ := build(&b, "acme-prod", 1, withoutID(logWithTrace))
	for name, change := range map[string]func(*record.Record){
		"timestamp": func(r *record.Record) { r.Timestamp++ },
		"body":      func(r *record.Record) { r.Body += "." },
		"attribute": func(r *record.Record) { r.Attributes[0].Value = "POST" },
		"trace":     func(r *record.Record) { r.SpanID[0]++ },
	} {
		changed := func() *record.Record {
			r := withoutID(logWithTrace)()
			change(r)
			return r
		}
		if got, _ := build(&b, "acme-prod", 1, changed); got[0] == base[0] {
			t.Errorf("changing the %s keeps id %s", name, got[0])
		}
	}
}

func TestBuilderKeepsGivenID(t *testing.T) {
	var b record.Builder
	ids, batch := build(&b, "acme-prod", 1, logWithTrace, span, span)
	want := []record.ID{logWithTrace().EventID, span().EventID, span().EventID}
	for i := range want {
		if ids[i] != want[i] {
			t.Errorf("record %d: id %s, want the given %s", i, ids[i], want[i])
		}
	}
	for i, r := range decodeAll(t, batch.Data) {
		if r.EventID != want[i] {
			t.Errorf("record %d: encoded id %s, want the given %s", i, r.EventID, want[i])
		}
	}
}

func TestBuilderIdenticalRecordsGetDistinctIDsAndRetryRepeatsThem(t *testing.T) {
	log := withoutID(logPlain)
	var b record.Builder
	first, _ := build(&b, "acme-prod", 1, log, withoutID(metricGauge), log, log)
	if first[0] == first[2] || first[0] == first[3] || first[2] == first[3] {
		t.Fatalf("identical records share ids: %s", first)
	}
	// A retry of the whole request, on another builder, maps onto the same ids in order.
	var other record.Builder
	retry, _ := build(&other, "acme-prod", 2, log, withoutID(metricGauge), log, log)
	for i := range first {
		if first[i] != retry[i] {
			t.Errorf("record %d: id %s, then %s on retry", i, first[i], retry[i])
		}
	}
	// The first of the identical records gets the same id as when it is alone.
	alone, _ := build(&b, "acme-prod", 3, log)
	if alone[0] != first[0] {
		t.Errorf("a lone record gets %s, the first of identical ones %s", alone[0], first[0])
	}
}

func TestBuilderBatchFramesDecodeToTheRecords(t *testing.T) {
	var b record.Builder
	ids, batch := build(&b, "acme-prod", 42, request...)
	if batch.Tenant != "acme-prod" || batch.Count != len(request) || b.Len() != len(request) {
		t.Fatalf("batch of tenant %q with %d records (Len %d), want acme-prod with %d", batch.Tenant, batch.Count, b.Len(), len(request))
	}
	if b.Size() != len(batch.Data) {
		t.Errorf("Size() = %d, want len(Data) = %d", b.Size(), len(batch.Data))
	}
	got := decodeAll(t, batch.Data)
	if len(got) != len(request) {
		t.Fatalf("%d frames, want %d", len(got), len(request))
	}
	for i, f := range request {
		want := f()
		want.Tenant, want.ReceivedAt, want.EventID = "acme-prod", 42, ids[i]
		checkEqual(t, &got[i], want)
	}
}

func TestBuilderAddSetsTenantAndReceivedAt(t *testing.T) {
	var b record.Builder
	b.Reset("acme-prod", 42)
	r := logPlain()
	b.Add(r)
	if r.Tenant != "acme-prod" || r.ReceivedAt != 42 || r.EventID.IsZero() {
		t.Errorf("after Add: tenant %q, received at %d, id %s", r.Tenant, r.ReceivedAt, r.EventID)
	}
	// Both sit at their documented fixed offsets in the frame's record.
	rec := b.Batch().Data[4:]
	if got := record.ID(rec[offEventID : offEventID+16]); got != r.EventID {
		t.Errorf("id at offset %d is %s, want %s", offEventID, got, r.EventID)
	}
	if got := binary.LittleEndian.Uint64(rec[offReceivedAt:]); got != 42 {
		t.Errorf("received at, at offset %d, is %d, want 42", offReceivedAt, got)
	}
}

func TestBuilderResetClears(t *testing.T) {
	var b record.Builder
	first, _ := build(&b, "acme-prod", 1, withoutID(logPlain), withoutID(logPlain))
	b.Reset("other", 2)
	if b.Len() != 0 || b.Size() != 0 || b.Batch().Count != 0 || len(b.Batch().Data) != 0 || b.Batch().Tenant != "other" {
		t.Fatalf("after Reset: Len %d, Size %d, batch %+v", b.Len(), b.Size(), b.Batch())
	}
	// Reset forgets the records seen: the same request gets the same ids again.
	again, _ := build(&b, "acme-prod", 1, withoutID(logPlain), withoutID(logPlain))
	if again[0] != first[0] || again[1] != first[1] {
		t.Errorf("after Reset: ids %s, want %s", again, first)
	}
}

func TestBuilderZeroValueIsUsable(t *testing.T) {
	var b record.Builder
	b.Add(withoutID(logPlain)())
	b.Add(withoutID(logPlain)())
	if got := decodeAll(t, b.Batch().Data); len(got) != 2 || got[0].EventID == got[1].EventID {
		t.Fatalf("zero Builder: %d records", len(got))
	}
}

func TestBuilderAddDoesNotAllocateInSteadyState(t *testing.T) {
	var b record.Builder
	recs := []*record.Record{logWithTrace(), metricHistogram(), span()}
	fill := func() {
		b.Reset("acme-prod", 1)
		for range 100 {
			for _, r := range recs {
				r.EventID = record.ID{}
				b.Add(r)
			}
		}
	}
	fill() // grow the buffers
	if n := testing.AllocsPerRun(10, fill); n != 0 {
		t.Errorf("a request of 300 records allocates %v times", n)
	}
}

// frame returns data framed with a length that may lie.
func frame(n uint32, body []byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, n), body...)
}

func TestFramesRejectsCorruptFramesAfterDeliveringEarlierOnes(t *testing.T) {
	var b record.Builder
	_, batch := build(&b, "acme-prod", 1, withoutID(logPlain), withoutID(span))
	good := batch.Data
	for name, tail := range map[string][]byte{
		"truncated header":     {1, 0, 0},
		"truncated body":       frame(10, make([]byte, 9)),
		"length beyond data":   frame(1<<20, make([]byte, 100)),
		"length of 2^31":       frame(1<<31, make([]byte, 100)),
		"length of 2^32-1":     frame(1<<32-1, make([]byte, 100)),
		"oversized":            frame(record.MaxRecordSize+1, make([]byte, record.MaxRecordSize+1)),
		"header after a frame": append(frame(1, []byte{0}), 0),
	} {
		data := append(bytes.Clone(good), tail...)
		var got [][]byte
		err := record.Frames(data, func(rec []byte) error {
			got = append(got, rec)
			return nil
		})
		if !errors.Is(err, record.ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
		if len(got) < 2 {
			t.Errorf("%s: %d records delivered before the bad frame, want 2", name, len(got))
		}
	}
}

func TestFramesAcceptsFrameOfMaxRecordSize(t *testing.T) {
	data := record.AppendFrame(nil, make([]byte, record.MaxRecordSize))
	n := 0
	if err := record.Frames(data, func(rec []byte) error { n += len(rec); return nil }); err != nil || n != record.MaxRecordSize {
		t.Fatalf("frame of MaxRecordSize: %d bytes, %v", n, err)
	}
}

func TestFramesStopsAtCallbackError(t *testing.T) {
	var b record.Builder
	_, batch := build(&b, "acme-prod", 1, request...)
	stop := errors.New("stop")
	calls := 0
	err := record.Frames(batch.Data, func([]byte) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Errorf("got %v after %d calls, want the callback's error after 3", err, calls)
	}
}

func TestFramesOfEmptyDataAndEmptyFrames(t *testing.T) {
	if err := record.Frames(nil, func([]byte) error { t.Fatal("called for no data"); return nil }); err != nil {
		t.Fatal(err)
	}
	var lens []int
	data := record.AppendFrame(record.AppendFrame(nil, nil), []byte("x"))
	if err := record.Frames(data, func(rec []byte) error { lens = append(lens, len(rec)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(lens) != 2 || lens[0] != 0 || lens[1] != 1 {
		t.Errorf("frame lengths %v, want [0 1]", lens)
	}
}

func TestAppendFrameMatchesBuilder(t *testing.T) {
	var b record.Builder
	_, batch := build(&b, "acme-prod", 1, request...)
	var rebuilt []byte
	if err := record.Frames(batch.Data, func(rec []byte) error {
		rebuilt = record.AppendFrame(rebuilt, rec)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rebuilt, batch.Data) {
		t.Error("re-framing a batch changes it")
	}
}

// FuzzFrames checks that Frames never panics, delivers frames that lie inside data in order,
// and that re-framing what it delivered reproduces data (or, on error, a prefix of it).
func FuzzFrames(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var rebuilt []byte
		var r record.Record
		err := record.Frames(data, func(rec []byte) error {
			if len(rec) > record.MaxRecordSize {
				t.Fatalf("frame of %d bytes exceeds MaxRecordSize", len(rec))
			}
			rebuilt = record.AppendFrame(rebuilt, rec)
			_ = record.Decode(rec, &r) // must not panic
			return nil
		})
		if !bytes.HasPrefix(data, rebuilt) {
			t.Fatal("the delivered frames are not a prefix of data")
		}
		switch {
		case err == nil && len(rebuilt) != len(data):
			t.Fatalf("no error, but only %d of %d bytes delivered", len(rebuilt), len(data))
		case err != nil && !errors.Is(err, record.ErrCorrupt):
			t.Fatalf("error %v is not ErrCorrupt", err)
		case err != nil && len(rebuilt) == len(data):
			t.Fatalf("error %v, but every byte was delivered", err)
		}
	})
}

func TestBuilderLargeRequestWithRepeatsGetsDistinctStableIDs(t *testing.T) {
	// 5000 records, each of 1000 distinct events 5 times, interleaved.
	recs := make([]func() *record.Record, 5000)
	for i := range recs {
		recs[i] = func() *record.Record {
			r := withoutID(metricGauge)()
			r.Timestamp = int64(i % 1000)
			return r
		}
	}
	var b1, b2 record.Builder
	b1.Reset("acme-prod", 0)
	b1.Add(withoutID(span)()) // a previous request on the same builder
	first, _ := build(&b1, "acme-prod", 1, recs...)
	retry, _ := build(&b2, "acme-prod", 2, recs...)
	seen := map[record.ID]bool{}
	for i := range first {
		if first[i] != retry[i] {
			t.Fatalf("record %d: id %s, then %s on retry", i, first[i], retry[i])
		}
		if seen[first[i]] {
			t.Fatalf("record %d: id %s given twice", i, first[i])
		}
		seen[first[i]] = true
	}
}
