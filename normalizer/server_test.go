package normalizer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ingestdev/ingest/internal/shed"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/record/recordtest"
)

type testServer struct {
	*Server
	sink *recordtest.Sink
	reg  *prometheus.Registry
}

func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	sink := &recordtest.Sink{}
	reg := prometheus.NewRegistry()
	s, err := New(cfg, sink, reg, slog.New(slog.DiscardHandler), WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: s, sink: sink, reg: reg}
}

type req struct {
	path, ctype, encoding string
	tenant                string
	body                  []byte
	header                map[string]string
}

func (ts *testServer) do(t *testing.T, r req) *httptest.ResponseRecorder {
	t.Helper()
	hr := httptest.NewRequest(http.MethodPost, r.path, bytes.NewReader(r.body))
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.encoding != "" {
		hr.Header.Set("Content-Encoding", r.encoding)
	}
	if r.tenant != "" {
		hr.Header.Set(HeaderTenant, r.tenant)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	ts.Handler().ServeHTTP(w, hr)
	return w
}

func ndjsonReq(body string) req {
	return req{path: "/v1/events", ctype: "application/x-ndjson", tenant: testTenant, body: []byte(body)}
}

const goodLine = `{"type":"log","ts":"2026-11-21T11:59:00Z","body":"hello","severity":"INFO","attributes":{"host":"a"}}`

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func decodeResult(t *testing.T, w *httptest.ResponseRecorder) ndjsonResult {
	t.Helper()
	var res ndjsonResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatalf("cannot decode response %q: %v", w.Body.String(), err)
	}
	return res
}

func errorReason(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Error struct{ Reason, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("cannot decode error body %q: %v", w.Body.String(), err)
	}
	if body.Error.Message == "" {
		t.Errorf("error without a message: %s", w.Body.String())
	}
	return body.Error.Reason
}

func otlpLogs(t testing.TB, n int, ts time.Time) plogotlp.ExportRequest {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i := 0; i < n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.Body().SetStr("line")
		lr.Attributes().PutInt("i", int64(i))
	}
	return plogotlp.NewExportRequestFromLogs(ld)
}

func TestRequestRejectionsAnswerStatusAndReason(t *testing.T) {
	ts := newTestServer(t, Config{MaxBodyBytes: 1 << 10, MaxDecompressedBytes: 4 << 10, MaxEventsPerRequest: 3})
	big := bytes.Repeat([]byte(goodLine+"\n"), 20)
	tests := []struct {
		name   string
		r      req
		status int
		reason Reason
	}{
		{"missing tenant", req{path: "/v1/events", ctype: "application/x-ndjson", body: []byte(goodLine)}, 401, ReasonMissingTenant},
		{"invalid tenant", req{path: "/v1/events", ctype: "application/x-ndjson", tenant: "Acme Corp", body: []byte(goodLine)}, 400, ReasonInvalidTenant},
		{"body too large", ndjsonReq(string(big)), 413, ReasonBodyTooLarge},
		{"decompressed too large", func() req {
			r := ndjsonReq("")
			r.body, r.encoding = gzipped(t, bytes.Repeat([]byte(" "), 8<<10)), "gzip"
			return r
		}(), 413, ReasonDecompressedTooLarge},
		{"too many events", ndjsonReq(strings.Repeat(goodLine+"\n", 4)), 413, ReasonTooManyEvents},
		{"unknown content type", req{path: "/v1/events", ctype: "text/plain", tenant: testTenant, body: []byte(goodLine)}, 415, ReasonUnsupportedMediaType},
		{"unknown encoding", func() req { r := ndjsonReq(goodLine); r.encoding = "br"; return r }(), 415, ReasonUnsupportedEncoding},
		{"broken gzip", func() req { r := ndjsonReq("not gzip"); r.encoding = "gzip"; return r }(), 400, ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := ts.do(t, tt.r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if got := errorReason(t, w); got != string(tt.reason) {
				t.Errorf("reason %q, want %q", got, tt.reason)
			}
		})
	}
	if n := len(ts.sink.Batches()); n != 0 {
		t.Errorf("refused requests reached the sink: %d batches", n)
	}
}

func TestOTLPRefusalsCarryGRPCStatusInRequestFormat(t *testing.T) {
	ts := newTestServer(t, Config{})
	w := ts.do(t, req{path: "/v1/logs", ctype: "application/x-protobuf", tenant: testTenant, body: []byte{0xff, 0xff, 0xff}})
	if w.Code != 400 {
		t.Fatalf("status %d, want 400", w.Code)
	}
	var st spb.Status
	if err := proto.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatalf("body is not a google.rpc.Status: %v", err)
	}
	if st.Code != 3 || !strings.Contains(st.Message, string(ReasonMalformed)) {
		t.Errorf("status %v, want INVALID_ARGUMENT naming %s", &st, ReasonMalformed)
	}
	w = ts.do(t, req{path: "/v1/logs", ctype: "text/csv", tenant: testTenant, body: []byte("a,b")})
	if w.Code != 415 || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("unknown content type: status %d type %q, want 415 JSON", w.Code, w.Header().Get("Content-Type"))
	}
	hr := httptest.NewRequest(http.MethodGet, "/v1/logs", nil)
	rec := httptest.NewRecorder()
	ts.Handler().ServeHTTP(rec, hr)
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET: status %d Allow %q, want 405 POST", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestNDJSONRejectedLinesReportedOthersAccepted(t *testing.T) {
	ts := newTestServer(t, Config{})
	body := goodLine + "\n" + `{"type":"log","ts":"2020-01-01T00:00:00Z","body":"old"}` + "\n\n" + `{not json` + "\n" + goodLine + "\n"
	w := ts.do(t, ndjsonReq(body))
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	res := decodeResult(t, w)
	if res.Accepted != 2 || res.Rejected != 2 {
		t.Fatalf("accepted %d rejected %d, want 2 and 2: %s", res.Accepted, res.Rejected, w.Body)
	}
	want := []struct {
		line   int
		reason Reason
	}{{2, ReasonTimestampTooOld}, {4, ReasonInvalidJSON}}
	for i, wnt := range want {
		if res.Errors[i].Line != wnt.line || res.Errors[i].Reason != wnt.reason {
			t.Errorf("rejection %d: line %d reason %s, want line %d reason %s", i, res.Errors[i].Line, res.Errors[i].Reason, wnt.line, wnt.reason)
		}
	}
	recs, err := ts.sink.Records()
	if err != nil || len(recs) != 2 {
		t.Fatalf("sink has %d records (err %v), want 2", len(recs), err)
	}
	if got := testutil.ToFloat64(ts.metrics.eventsAccepted.WithLabelValues(testTenant, "log")); got != 2 {
		t.Errorf("accepted counter %v, want 2", got)
	}
	if got := testutil.ToFloat64(ts.metrics.eventsRejected.WithLabelValues(testTenant, "event", string(ReasonInvalidJSON))); got != 1 {
		t.Errorf("rejected counter for invalid json %v, want 1", got)
	}
}

// otlpLogsFormat is one OTLP/HTTP encoding of a logs request and its response.
type otlpLogsFormat struct {
	ctype string
	body  func() ([]byte, error)
	parse func(plogotlp.ExportResponse, []byte) error
}

// otlpLogsFormats returns er in protobuf and in JSON.
func otlpLogsFormats(er plogotlp.ExportRequest) []otlpLogsFormat {
	return []otlpLogsFormat{
		{"application/x-protobuf", er.MarshalProto, func(r plogotlp.ExportResponse, b []byte) error { return r.UnmarshalProto(b) }},
		{"application/json", er.MarshalJSON, func(r plogotlp.ExportResponse, b []byte) error { return r.UnmarshalJSON(b) }},
	}
}

func TestOTLPPartialSuccessCountsRejected(t *testing.T) {
	ts := newTestServer(t, Config{})
	er := otlpLogs(t, 3, testNow.Add(-time.Minute))
	er.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(1).SetTimestamp(pcommon.NewTimestampFromTime(testNow.Add(time.Hour)))
	for _, f := range otlpLogsFormats(er) {
		body, err := f.body()
		if err != nil {
			t.Fatal(err)
		}
		w := ts.do(t, req{path: "/v1/logs", ctype: f.ctype, tenant: testTenant, body: body})
		if w.Code != 200 || w.Header().Get("Content-Type") != f.ctype {
			t.Fatalf("%s: status %d type %q: %s", f.ctype, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		resp := plogotlp.NewExportResponse()
		if err := f.parse(resp, w.Body.Bytes()); err != nil {
			t.Fatalf("%s: cannot parse response: %v", f.ctype, err)
		}
		ps := resp.PartialSuccess()
		if ps.RejectedLogRecords() != 1 || !strings.Contains(ps.ErrorMessage(), string(ReasonTimestampTooNew)) || !strings.Contains(ps.ErrorMessage(), "item 1") {
			t.Errorf("%s: partial success %d %q, want 1 rejected item 1 %s", f.ctype, ps.RejectedLogRecords(), ps.ErrorMessage(), ReasonTimestampTooNew)
		}
	}
	recs, _ := ts.sink.Records()
	if len(recs) != 4 {
		t.Errorf("sink has %d records, want 2 per request", len(recs))
	}
}

func TestGzipBodyIsDecompressed(t *testing.T) {
	ts := newTestServer(t, Config{})
	r := ndjsonReq("")
	r.body, r.encoding = gzipped(t, []byte(goodLine+"\n"+goodLine+"\n")), "gzip"
	w := ts.do(t, r)
	if w.Code != 200 || decodeResult(t, w).Accepted != 2 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

func TestGzipBombDoesNotAllocatePastTheBound(t *testing.T) {
	ts := newTestServer(t, Config{MaxDecompressedBytes: 1 << 20})
	r := ndjsonReq("")
	// 256 concatenated gzip members of 1 MiB of zeros each: 256 MiB decompressed, ~256 KiB sent.
	r.body, r.encoding = bytes.Repeat(gzipped(t, make([]byte, 1<<20)), 256), "gzip"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := ts.do(t, r)
	runtime.ReadMemStats(&after)
	if w.Code != 413 || errorReason(t, w) != string(ReasonDecompressedTooLarge) {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("allocated %d MiB for a bomb bounded at 1 MiB", alloc>>20)
	}
}

func TestSinkFullAnswers429WithRetryAfter(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.sink.SetErr(shed.Full(string(ReasonSinkFull), 3*time.Second, nil))
	w := ts.do(t, ndjsonReq(goodLine))
	if w.Code != 429 || w.Header().Get("Retry-After") != "3" || errorReason(t, w) != string(ReasonSinkFull) {
		t.Fatalf("status %d Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if got := testutil.ToFloat64(ts.metrics.eventsRejected.WithLabelValues(testTenant, "event", string(ReasonSinkFull))); got != 1 {
		t.Errorf("shed not counted: %v", got)
	}
	if got := testutil.ToFloat64(ts.metrics.eventsAccepted.WithLabelValues(testTenant, "log")); got != 0 {
		t.Errorf("refused events counted as accepted: %v", got)
	}
}

func TestSinkUnavailableAnswers503WithRetryAfter(t *testing.T) {
	for name, err := range map[string]error{
		"shed":    shed.Unavailable(string(ReasonSinkUnavailable), 2*time.Second, nil),
		"plain":   errors.New("connection refused"),
		"timeout": context.DeadlineExceeded,
	} {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			ts.sink.SetErr(err)
			body, _ := otlpLogs(t, 1, testNow).MarshalProto()
			w := ts.do(t, req{path: "/v1/logs", ctype: "application/x-protobuf", tenant: testTenant, body: body})
			if w.Code != 503 || w.Header().Get("Retry-After") == "" {
				t.Fatalf("status %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
			}
			var st spb.Status
			if err := proto.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Code != 14 {
				t.Errorf("body %v (err %v), want UNAVAILABLE status", &st, err)
			}
		})
	}
}

func TestInflightBoundAnswers429(t *testing.T) {
	ts := newTestServer(t, Config{MaxBodyBytes: 1 << 10, MaxDecompressedBytes: 1 << 10, MaxInflightBytes: 1 << 10})
	ts.inflight.Add(1000) // another request holds most of the bound
	w := ts.do(t, ndjsonReq(goodLine))
	if w.Code != 429 || w.Header().Get("Retry-After") == "" || errorReason(t, w) != string(ReasonNormalizerFull) {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	ts.inflight.Add(-1000)
	if w := ts.do(t, ndjsonReq(goodLine)); w.Code != 200 {
		t.Fatalf("after release: status %d: %s", w.Code, w.Body)
	}
	if n := ts.inflight.Load(); n != 0 {
		t.Errorf("%d bytes still reserved after the requests finished", n)
	}
}

func TestEdgeCountMismatchIsCounted(t *testing.T) {
	ts := newTestServer(t, Config{})
	r := ndjsonReq(goodLine + "\n" + goodLine)
	r.header = map[string]string{HeaderEventCount: "2", HeaderRequestID: "req-1"}
	w := ts.do(t, r)
	if w.Header().Get(HeaderRequestID) != "req-1" {
		t.Errorf("request id not echoed")
	}
	r.header[HeaderEventCount] = "3"
	ts.do(t, r)
	if got := testutil.ToFloat64(ts.metrics.countMismatches.WithLabelValues(testTenant)); got != 1 {
		t.Errorf("mismatches %v, want 1", got)
	}
}

func TestReadyzFailsWhileDraining(t *testing.T) {
	ts := newTestServer(t, Config{})
	get := func(path string) int {
		w := httptest.NewRecorder()
		ts.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code
	}
	if get("/healthz") != 200 || get("/readyz") != 200 {
		t.Fatal("not healthy and ready at start")
	}
	ts.Drain()
	if get("/readyz") != 503 || get("/healthz") != 200 {
		t.Error("draining: want readyz 503 and healthz 200")
	}
}

func TestConfigValidateNamesEveryBadKey(t *testing.T) {
	err := Config{MaxBodyBytes: -1, MaxPast: -time.Second}.Validate()
	if err == nil || !strings.Contains(err.Error(), "max_body_bytes") || !strings.Contains(err.Error(), "max_past") {
		t.Errorf("Validate() = %v, want both keys named", err)
	}
}

// FuzzGzipPath sends arbitrary bytes as a gzip body: the server must answer 200, 400 or 413,
// never panic or 5xx.
func FuzzGzipPath(f *testing.F) {
	f.Add(gzipped(f, []byte(goodLine)))
	f.Add(gzipped(f, []byte(goodLine+"\n{bad")))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte("plain"))
	s := &recordtest.Sink{}
	srv, err := New(Config{MaxDecompressedBytes: 1 << 20}, s, prometheus.NewRegistry(), slog.New(slog.DiscardHandler), WithClock(func() time.Time { return testNow }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		hr := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
		hr.Header.Set("Content-Type", "application/x-ndjson")
		hr.Header.Set("Content-Encoding", "gzip")
		hr.Header.Set(HeaderTenant, testTenant)
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, hr)
		switch w.Code {
		case 200, 400, 413:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		io.Copy(io.Discard, w.Body)
	})
}

func TestEmitClassifiesExtremeTimestampsWithoutOverflow(t *testing.T) {
	for _, tc := range []struct {
		ts   int64
		want Reason
	}{{math.MinInt64, ReasonTimestampTooOld}, {-1, ReasonTimestampTooOld}, {math.MaxInt64, ReasonTimestampTooNew}} {
		e := newTestEmitter(Config{})
		r := record.Record{Signal: record.SignalLog, Timestamp: tc.ts}
		if e.emit(&r, 0, 0) || len(e.rejections) != 1 || e.rejections[0].Reason != tc.want {
			t.Errorf("timestamp %d: rejections %+v, want one %s", tc.ts, e.rejections, tc.want)
		}
	}
}

// TestMirroredRequestsAreMarkedShadowByTheirAuthorityOnly checks the normalizer's half of the
// shadow data path: only a request whose authority ends with "-shadow" (what the edge's
// mirror makes of it) produces a shadow batch; the authority the control plane gives every
// request routed to ingest-v2 and any other one give live batches, and no header can make a
// batch shadow.
func TestMirroredRequestsAreMarkedShadowByTheirAuthorityOnly(t *testing.T) {
	for _, tc := range []struct {
		host   string
		header map[string]string
		shadow bool
	}{
		{host: "ingest-v2-shadow", shadow: true},
		{host: "ingest-v2-shadow:4318", shadow: true},
		{host: "api.example.com-shadow", shadow: true},
		{host: "ingest-v2"},
		{host: "127.0.0.1:4318"},
		{host: "shadow.ingest-v2"},
		{host: "ingest-v2", header: map[string]string{"X-Ingest-Shadow": "true", "X-Forwarded-Host": "ingest-v2-shadow"}},
	} {
		ts := newTestServer(t, DefaultConfig())
		hr := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader([]byte(goodLine+"\n")))
		hr.Host = tc.host
		hr.Header.Set("Content-Type", "application/x-ndjson")
		hr.Header.Set(HeaderTenant, testTenant)
		for k, v := range tc.header {
			hr.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		ts.Handler().ServeHTTP(w, hr)
		if w.Code != http.StatusOK {
			t.Fatalf("host %q: status %d: %s", tc.host, w.Code, w.Body)
		}
		bs := ts.sink.Batches()
		if len(bs) != 1 || bs[0].Count != 1 {
			t.Fatalf("host %q: %d batches, want one of 1 record", tc.host, len(bs))
		}
		if bs[0].Shadow != tc.shadow {
			t.Errorf("host %q, headers %v: batch Shadow = %v, want %v", tc.host, tc.header, bs[0].Shadow, tc.shadow)
		}
	}
}

func TestShadowCheckDoesNotAllocate(t *testing.T) {
	for _, host := range []string{"ingest-v2", "ingest-v2-shadow:4318", "[::1]:4318"} {
		r := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
		r.Host = host
		if n := testing.AllocsPerRun(100, func() { _ = isShadow(r) }); n != 0 {
			t.Errorf("isShadow(%q) allocates %v times", host, n)
		}
	}
}
