package normalizer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/record/recordtest"
	"github.com/ingestdev/ingest/sinkwriter"
)

// The per-field limits at their defaults allow an event (128 attributes and 128 resource
// attributes of 16 KiB, a 256 KiB body) far larger than the sink writer's max_record_bytes,
// which refuses the whole batch for it: the normalizer must reject such an event alone.

// oversizedNDJSONLine returns a log event within every per-field default limit whose record
// exceeds the default max_record_bytes: 128 attributes of 16 KiB and a 256 KiB body.
func oversizedNDJSONLine(t testing.TB) string {
	t.Helper()
	d := DefaultConfig()
	attrs := make(map[string]string, d.MaxAttributes)
	for i := range d.MaxAttributes {
		attrs[fmt.Sprintf("k%03d", i)] = strings.Repeat("v", d.MaxAttributeValueBytes)
	}
	b, err := json.Marshal(map[string]any{
		"type": "log", "ts": "2026-11-21T11:59:00Z", "severity": "INFO",
		"body": strings.Repeat("b", d.MaxLogBodyBytes), "attributes": attrs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// oversizedOTLPLogs returns three log records, the middle one (item 1) within every per-field
// default limit but encoded larger than the default max_record_bytes.
func oversizedOTLPLogs() plogotlp.ExportRequest {
	d := DefaultConfig()
	logs := plog.NewLogs()
	lrs := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("before")
	big := lrs.AppendEmpty()
	big.Body().SetStr(strings.Repeat("b", d.MaxLogBodyBytes))
	for i := range d.MaxAttributes {
		big.Attributes().PutStr(fmt.Sprintf("k%03d", i), strings.Repeat("v", d.MaxAttributeValueBytes))
	}
	lrs.AppendEmpty().Body().SetStr("after")
	for i := range lrs.Len() {
		lrs.At(i).SetTimestamp(otlpTime(0))
	}
	return plogotlp.NewExportRequestFromLogs(logs)
}

// limitedSink is a recording sink that refuses a batch holding a record over maxRecordBytes, as
// the sink writer does.
type limitedSink struct {
	recordtest.Sink
	maxRecordBytes int
}

func (s *limitedSink) Write(ctx context.Context, b record.Batch) error {
	err := record.Frames(b.Data, func(rec []byte) error {
		if len(rec) > s.maxRecordBytes {
			return fmt.Errorf("record of %d bytes exceeds the sink writer's %d-byte max_record_bytes", len(rec), s.maxRecordBytes)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.Sink.Write(ctx, b)
}

// newServerWithSink returns a normalizer with the default limits writing to sink.
func newServerWithSink(t *testing.T, sink Sink) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(Config{}, sink, reg, slog.New(slog.DiscardHandler), WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// checkNDJSONRejectsTheOversizedEventAlone sends a good line, an oversized one and a good one
// to s and checks the answer: 200, two accepted, line 2 rejected as too large.
func checkNDJSONRejectsTheOversizedEventAlone(t *testing.T, s *Server) {
	t.Helper()
	ts := &testServer{Server: s}
	w := ts.do(t, ndjsonReq(goodLine+"\n"+oversizedNDJSONLine(t)+"\n"+goodLine+"\n"))
	if w.Code != 200 {
		t.Fatalf("status %d, want 200 with the oversized event rejected alone: %.300s", w.Code, w.Body)
	}
	res := decodeResult(t, w)
	if res.Accepted != 2 || res.Rejected != 1 || len(res.Errors) != 1 {
		t.Fatalf("accepted %d, rejected %d, errors %+v; want 2, 1, one error", res.Accepted, res.Rejected, res.Errors)
	}
	got := res.Errors[0]
	if got.Line != 2 || got.Index != 1 || got.Reason != reason.EventTooLarge ||
		!strings.Contains(got.Message, "max_record_bytes") || !strings.Contains(got.Message, "shrink its attributes or body") {
		t.Errorf("rejection %+v, want line 2, index 1, %s naming max_record_bytes and what to shrink", got, reason.EventTooLarge)
	}
}

func TestNDJSONEventOverMaxRecordBytesIsRejectedAloneAndTheBatchFitsTheSinkWriter(t *testing.T) {
	sink := &limitedSink{maxRecordBytes: sinkwriter.DefaultConfig().MaxRecordBytes}
	s, _ := newServerWithSink(t, sink)
	checkNDJSONRejectsTheOversizedEventAlone(t, s)
	recs, err := sink.Records()
	if err != nil || len(recs) != 2 {
		t.Fatalf("sink has %d records (err %v), want the 2 good ones", len(recs), err)
	}
	if got := testutil.ToFloat64(s.metrics.eventsRejected.WithLabelValues(testTenant, "event", string(reason.EventTooLarge))); got != 1 {
		t.Errorf("rejected counter for %s = %v, want 1", reason.EventTooLarge, got)
	}
}

func TestOTLPLogOverMaxRecordBytesIsRejectedAloneWithPartialSuccess(t *testing.T) {
	sink := &limitedSink{maxRecordBytes: sinkwriter.DefaultConfig().MaxRecordBytes}
	s, _ := newServerWithSink(t, sink)
	ts := &testServer{Server: s}
	er := oversizedOTLPLogs()
	for _, f := range otlpLogsFormats(er) {
		body, err := f.body()
		if err != nil {
			t.Fatal(err)
		}
		w := ts.do(t, req{path: "/v1/logs", ctype: f.ctype, tenant: testTenant, body: body})
		if w.Code != 200 {
			t.Fatalf("%s: status %d, want 200 with the oversized record rejected alone: %.300s", f.ctype, w.Code, w.Body)
		}
		resp := plogotlp.NewExportResponse()
		if err := f.parse(resp, w.Body.Bytes()); err != nil {
			t.Fatalf("%s: cannot parse response: %v", f.ctype, err)
		}
		ps := resp.PartialSuccess()
		if ps.RejectedLogRecords() != 1 || !strings.Contains(ps.ErrorMessage(), "item 1: "+string(reason.EventTooLarge)) {
			t.Errorf("%s: partial success %d %.200q, want 1 rejected: item 1 %s", f.ctype, ps.RejectedLogRecords(), ps.ErrorMessage(), reason.EventTooLarge)
		}
	}
	recs, err := sink.Records()
	if err != nil || len(recs) != 4 {
		t.Fatalf("sink has %d records (err %v), want the 2 good ones per request", len(recs), err)
	}
	for _, r := range recs {
		if r.Body != "before" && r.Body != "after" {
			t.Errorf("sink holds a record with a body of %d bytes, want only the small ones", len(r.Body))
		}
	}
}

// Through a real sink writer (on kfake): the batch the normalizer hands on is accepted, so the
// request succeeds rather than answering 503 for ever.
func TestSinkWriterAcceptsTheBatchOfARequestWithAnOversizedEvent(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("cannot start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	w, err := sinkwriter.New(sinkwriter.Config{Brokers: c.ListenAddrs(), KafkaTimeout: 3 * time.Second, Linger: time.Millisecond},
		prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("cannot create the sink writer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
	s, _ := newServerWithSink(t, w)
	checkNDJSONRejectsTheOversizedEventAlone(t, s)
}

func TestMaxRecordBytesDefaultIsWithinTheSinkWriters(t *testing.T) {
	n, sw := DefaultConfig().MaxRecordBytes, sinkwriter.DefaultConfig().MaxRecordBytes
	if n <= 0 || n > sw {
		t.Errorf("normalizer max_record_bytes default %d, want in (0, the sink writer's default %d]", n, sw)
	}
	if got := (Config{}).withDefaults().MaxRecordBytes; got != n {
		t.Errorf("zero max_record_bytes means %d, want the default %d", got, n)
	}
}

func TestMaxRecordBytesValidates(t *testing.T) {
	for _, tc := range []struct {
		v    int
		want string // "" for valid
	}{
		{0, ""},
		{960 << 10, ""},
		{record.MaxRecordSize, ""},
		{-1, "max_record_bytes: -1 must not be negative"},
		{record.MaxRecordSize + 1, fmt.Sprintf("max_record_bytes: %d exceeds the %d bytes a record frame can hold", record.MaxRecordSize+1, record.MaxRecordSize)},
	} {
		err := Config{MaxRecordBytes: tc.v}.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Validate(max_record_bytes %d) = %v, want nil", tc.v, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Validate(max_record_bytes %d) = %v, want %q", tc.v, err, tc.want)
		}
	}
}

// The bound is on the encoded record, inclusive: an event of exactly max_record_bytes passes,
// one byte less rejects it, and the rejected event leaves no trace in the batch.
func TestEmitBoundsTheEncodedRecordInclusively(t *testing.T) {
	event := func() *record.Record {
		return &record.Record{Signal: record.SignalLog, Timestamp: testNow.UnixNano(), Body: strings.Repeat("x", 1000), Attributes: []record.KV{kv("a", "b")}}
	}
	e := newTestEmitter(Config{})
	if !e.emit(event(), 0, 0) {
		t.Fatalf("a small event was rejected: %+v", e.rejections)
	}
	size := e.batch.Size() - 4 // less the frame header
	want := e.batch.Batch().Data

	e = newTestEmitter(Config{MaxRecordBytes: size})
	if !e.emit(event(), 0, 0) || e.accepted() != 1 {
		t.Fatalf("an event of exactly max_record_bytes (%d) was rejected: %+v", size, e.rejections)
	}

	e = newTestEmitter(Config{MaxRecordBytes: size - 1})
	r := event()
	if e.emit(r, 3, 4) {
		t.Fatalf("an event of %d bytes passed a max_record_bytes of %d", size, size-1)
	}
	if e.accepted() != 0 || e.batch.Size() != 0 || !r.EventID.IsZero() || e.rejectedBy[reason.EventTooLarge] != 1 {
		t.Errorf("after the rejection: %d accepted, %d batch bytes, event id %s, %v; want nothing added", e.accepted(), e.batch.Size(), r.EventID, e.rejectedBy)
	}
	wantMsg := fmt.Sprintf("event of %d bytes encoded exceeds the %d-byte limit (max_record_bytes); shrink its attributes or body", size, size-1)
	if len(e.rejections) != 1 || e.rejections[0] != (Rejection{Index: 3, Line: 4, Reason: reason.EventTooLarge, Message: wantMsg}) {
		t.Errorf("rejections %+v, want index 3 line 4 %s %q", e.rejections, reason.EventTooLarge, wantMsg)
	}
	// The rejected event took no id: the same event accepted next gets the id it gets alone.
	e.cfg.MaxRecordBytes = size
	if !e.emit(event(), 0, 0) || string(e.batch.Batch().Data) != string(want) {
		t.Error("the event accepted after a rejected one differs from the same event accepted alone")
	}
}

func TestEventTooLargeIsAPerEventReason(t *testing.T) {
	info, ok := reason.Lookup(reason.EventTooLarge)
	if !ok || info.Scope != reason.ScopeEvent || info.Status != 200 || !strings.Contains(info.Action, "shrink its attributes or body") {
		t.Errorf("catalogue has %+v, %v; want a per-event reason saying what to shrink", info, ok)
	}
}
