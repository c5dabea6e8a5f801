package normalizer

import (
	"bytes"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/ingestdev/ingest/record"
)

// otlpSignal ties an OTLP signal's fixture to its decoder.
type otlpSignal struct {
	name   string // logs, metrics, traces: the fixture's file name
	decode func(body []byte, f otlpFormat, e *emitter) error
	// fixture builds the representative payload committed under testdata/otlp.
	fixture func() otlpPayload
}

var otlpSignals = []otlpSignal{
	{"logs", decodeOTLPLogs, func() otlpPayload { return logsPayload(otlpFixtureLogs()) }},
	{"metrics", decodeOTLPMetrics, func() otlpPayload { return metricsPayload(otlpFixtureMetrics()) }},
	{"traces", decodeOTLPTraces, func() otlpPayload { return tracesPayload(otlpFixtureTraces()) }},
}

var otlpFormats = []otlpFormat{otlpProto, otlpJSON}

// otlpPayload is an ExportRequest of any signal.
type otlpPayload interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

func logsPayload(ld plog.Logs) otlpPayload { return plogotlp.NewExportRequestFromLogs(ld) }
func metricsPayload(md pmetric.Metrics) otlpPayload {
	return pmetricotlp.NewExportRequestFromMetrics(md)
}
func tracesPayload(td ptrace.Traces) otlpPayload { return ptraceotlp.NewExportRequestFromTraces(td) }

// marshalOTLP encodes p in format f.
func marshalOTLP(t testing.TB, p otlpPayload, f otlpFormat) []byte {
	t.Helper()
	var b []byte
	var err error
	if f == otlpJSON {
		b, err = p.MarshalJSON()
	} else {
		b, err = p.MarshalProto()
	}
	if err != nil {
		t.Fatalf("cannot marshal OTLP %s: %v", f, err)
	}
	return b
}

func otlpFixturePath(signal string, f otlpFormat) string {
	ext := ".pb"
	if f == otlpJSON {
		ext = ".json"
	}
	return filepath.Join("testdata", "otlp", signal+ext)
}

// otlpFixture returns the committed fixture of signal in format f, first rewriting it from the
// builders when -update is set.
func otlpFixture(t testing.TB, s otlpSignal, f otlpFormat) []byte {
	t.Helper()
	path := otlpFixturePath(s.name, f)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, marshalOTLP(t, s.fixture(), f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cannot read fixture (run with -update to create it): %v", err)
	}
	return b
}

// Fixture timestamps: shortly before testNow.
var (
	otlpT0      = testNow.Add(-10 * time.Minute)
	otlpTraceID = pcommon.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	otlpSpanID  = pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}
	otlpSpanID2 = pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x75}
	otlpSpanID3 = pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x76}
	otlpLinkTID = pcommon.TraceID{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}
)

func otlpTime(d time.Duration) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(otlpT0.Add(d))
}

// otlpFixtureLogs builds logs from two resources and three scopes: severities, string, map,
// double and bool bodies, attribute values of every type, with and without trace context, and
// log records that fall back to the observed time.
func otlpFixtureLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("host.name", "web-1")
	rl.Resource().Attributes().PutInt("process.pid", 4242)

	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("checkout.http")
	sl.Scope().SetVersion("1.2.0")

	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(otlpTime(0))
	lr.SetObservedTimestamp(otlpTime(time.Second))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")
	lr.Body().SetStr("GET /cart 200")
	lr.Attributes().PutStr("http.method", "GET")
	lr.Attributes().PutInt("http.status_code", 200)
	lr.Attributes().PutDouble("duration_ms", 12.5)
	lr.Attributes().PutDouble("retries", 2)
	lr.Attributes().PutBool("cached", false)
	lr.SetTraceID(otlpTraceID)
	lr.SetSpanID(otlpSpanID)

	lr = sl.LogRecords().AppendEmpty()
	lr.SetObservedTimestamp(otlpTime(2 * time.Second)) // no time_unix_nano
	lr.SetSeverityNumber(plog.SeverityNumberError)
	lr.SetSeverityText("ERROR")
	body := lr.Body().SetEmptyMap()
	body.PutStr("error", "upstream \"payments\" timed out\n")
	body.PutInt("retries", 3)
	body.PutDouble("ratio", 0.25)
	body.PutDouble("whole", 2)
	tags := body.PutEmptySlice("tags")
	tags.AppendEmpty().SetStr("a")
	tags.AppendEmpty().SetBool(true)
	tags.AppendEmpty() // empty value → null
	tags.AppendEmpty().SetDouble(math.Inf(1))
	body.PutEmptyBytes("raw").FromRaw([]byte{0xde, 0xad, 0xbe, 0xef})
	lr.Attributes().PutEmptyBytes("payload").FromRaw([]byte("hello"))
	nested := lr.Attributes().PutEmptyMap("user")
	nested.PutStr("id", "u-42")
	nested.PutEmptyMap("geo").PutStr("country", "DE")
	arr := lr.Attributes().PutEmptySlice("ports")
	arr.AppendEmpty().SetInt(80)
	arr.AppendEmpty().SetInt(443)

	sl = rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("checkout.db")
	lr = sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(otlpTime(3 * time.Second))
	lr.SetEventName("db.query")
	lr.SetSeverityNumber(plog.SeverityNumberDebug)
	lr.SetSeverityText("DEBUG")
	lr.Body().SetDouble(1.5)
	lr.Attributes().PutStr("db.system", "postgresql")
	lr.Attributes().PutEmpty("db.user")

	rl = ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "payments")
	sl = rl.ScopeLogs().AppendEmpty() // unnamed scope
	// Only an observed time, no body. (A record with no time at all is rejected: see
	// TestOTLPRetryYieldsTheSameEvents.)
	sl.LogRecords().AppendEmpty().SetObservedTimestamp(otlpTime(5 * time.Second))
	lr = sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(otlpTime(4 * time.Second))
	lr.SetSeverityNumber(plog.SeverityNumberFatal)
	lr.Body().SetBool(true)
	lr.SetTraceID(otlpTraceID) // trace id without span id
	return ld
}

// otlpFixtureMetrics builds every metric type: int and double gauges, a monotonic cumulative
// and a non-monotonic delta sum, a histogram in ms, an exponential histogram in s with negative,
// zero and positive buckets, a summary in KiBy, a gauge with a unit outside the table, and a
// staleness marker.
func otlpFixtureMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "api")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("api.metrics")
	ms := sm.Metrics()

	m := ms.AppendEmpty()
	m.SetName("queue.depth")
	m.SetUnit("{items}")
	g := m.SetEmptyGauge()
	dp := g.DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpTime(0))
	dp.SetIntValue(17)
	dp.Attributes().PutStr("queue", "orders")
	dp = g.DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpTime(0))
	dp.SetDoubleValue(3.5)
	dp.Attributes().PutStr("queue", "billing")

	m = ms.AppendEmpty()
	m.SetName("http.requests")
	m.SetUnit("{requests}")
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp = s.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(otlpTime(-time.Hour))
	dp.SetTimestamp(otlpTime(time.Second))
	dp.SetIntValue(1234)
	dp.Attributes().PutStr("http.route", "/cart")

	m = ms.AppendEmpty()
	m.SetName("memory.delta")
	m.SetUnit("KiBy")
	s = m.SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp = s.DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpTime(2 * time.Second))
	dp.SetDoubleValue(-2.5)

	m = ms.AppendEmpty()
	m.SetName("http.server.duration")
	m.SetUnit("ms")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := h.DataPoints().AppendEmpty()
	hp.SetTimestamp(otlpTime(3 * time.Second))
	hp.SetCount(10)
	hp.SetSum(123.5)
	hp.SetMin(0.5)
	hp.SetMax(80)
	hp.ExplicitBounds().FromRaw([]float64{5, 10, 25, 50})
	hp.BucketCounts().FromRaw([]uint64{2, 3, 1, 3, 1})
	hp.Attributes().PutStr("http.route", "/cart")

	m = ms.AppendEmpty()
	m.SetName("rpc.latency")
	m.SetUnit("s")
	eh := m.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	ep := eh.DataPoints().AppendEmpty()
	ep.SetTimestamp(otlpTime(4 * time.Second))
	ep.SetScale(1) // base √2
	ep.SetCount(13)
	ep.SetSum(1.25)
	ep.SetMin(-1.3)
	ep.SetMax(1.4)
	ep.SetZeroThreshold(0.001)
	ep.SetZeroCount(2)
	ep.Negative().SetOffset(0) // indices 0, 1: [-√2, -1), [-2, -√2)
	ep.Negative().BucketCounts().FromRaw([]uint64{4, 1})
	ep.Positive().SetOffset(-2) // indices -2, -1, 0: (0.5, 1/√2], (1/√2, 1], (1, √2]
	ep.Positive().BucketCounts().FromRaw([]uint64{1, 2, 3})

	m = ms.AppendEmpty()
	m.SetName("payload.size")
	m.SetUnit("KiBy")
	sp := m.SetEmptySummary().DataPoints().AppendEmpty()
	sp.SetTimestamp(otlpTime(5 * time.Second))
	sp.SetCount(100)
	sp.SetSum(2048)
	for _, q := range [][2]float64{{0, 0.5}, {0.5, 1.5}, {0.99, 12}, {1, 16}} {
		qv := sp.QuantileValues().AppendEmpty()
		qv.SetQuantile(q[0])
		qv.SetValue(q[1])
	}

	m = ms.AppendEmpty()
	m.SetName("cpu.temperature")
	m.SetUnit("Cel") // not in the unit table
	dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpTime(6 * time.Second))
	dp.SetDoubleValue(61.5)

	m = ms.AppendEmpty()
	m.SetName("disk.free")
	m.SetUnit("By")
	dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpTime(7 * time.Second))
	dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))

	rm = md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "worker")
	m = rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("jobs.processed")
	m.SetUnit("1")
	s = m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp = s.DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpTime(8 * time.Second))
	dp.SetIntValue(5)
	return md
}

// otlpFixtureTraces builds a root span with an event and a link, a child span with an error
// status, and a span of another resource.
func otlpFixtureTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "frontend")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("frontend.http")

	sp := ss.Spans().AppendEmpty()
	sp.SetName("GET /checkout")
	sp.SetTraceID(otlpTraceID)
	sp.SetSpanID(otlpSpanID)
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetStartTimestamp(otlpTime(0))
	sp.SetEndTimestamp(otlpTime(250 * time.Millisecond))
	sp.Status().SetCode(ptrace.StatusCodeOk)
	sp.Attributes().PutStr("http.method", "GET")
	sp.Attributes().PutInt("http.status_code", 200)
	ev := sp.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(otlpTime(100 * time.Millisecond))
	ev.Attributes().PutStr("exception.type", "TimeoutError")
	ev.Attributes().PutInt("attempt", 2)
	link := sp.Links().AppendEmpty()
	link.SetTraceID(otlpLinkTID)
	link.SetSpanID(otlpSpanID3)
	link.Attributes().PutStr("link.kind", "follows_from")

	sp = ss.Spans().AppendEmpty()
	sp.SetName("SELECT orders")
	sp.SetTraceID(otlpTraceID)
	sp.SetSpanID(otlpSpanID2)
	sp.SetParentSpanID(otlpSpanID)
	sp.SetKind(ptrace.SpanKindClient)
	sp.SetStartTimestamp(otlpTime(10 * time.Millisecond))
	sp.SetEndTimestamp(otlpTime(60 * time.Millisecond))
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Status().SetMessage("deadline exceeded")
	sp.Attributes().PutStr("db.system", "postgresql")
	ev = sp.Events().AppendEmpty()
	ev.SetName("retry")
	ev.SetTimestamp(otlpTime(30 * time.Millisecond))

	rs = td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "backend")
	sp = rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("process")
	sp.SetTraceID(otlpTraceID)
	sp.SetSpanID(otlpSpanID3)
	sp.SetParentSpanID(otlpSpanID2)
	sp.SetKind(ptrace.SpanKindInternal)
	sp.SetStartTimestamp(otlpTime(20 * time.Millisecond))
	sp.SetEndTimestamp(otlpTime(20 * time.Millisecond)) // zero duration
	return td
}

// TestOTLPGolden decodes each committed fixture in protobuf and JSON, compares the records with
// the golden files otlp_<signal>_<format>.json, and checks that both formats of the same payload
// produce the very same records. Rewrite fixtures and golden files with -update.
func TestOTLPGolden(t *testing.T) {
	for _, s := range otlpSignals {
		t.Run(s.name, func(t *testing.T) {
			var batches [2][]byte
			for _, f := range otlpFormats {
				t.Run(f.String(), func(t *testing.T) {
					e := newTestEmitter(Config{})
					if err := s.decode(otlpFixture(t, s, f), f, e); err != nil {
						t.Fatalf("decode: %v", err)
					}
					if e.rejected() != 0 {
						t.Fatalf("fixture events rejected: %+v", e.rejections)
					}
					checkGolden(t, "otlp_"+s.name+"_"+otlpGoldenSuffix(f), e)
					batches[f] = bytes.Clone(e.batch.Batch().Data)
				})
			}
			if !bytes.Equal(batches[otlpProto], batches[otlpJSON]) {
				t.Errorf("protobuf and JSON of the same %s payload produced different records", s.name)
			}
		})
	}
}

func decodeFixture(t *testing.T, name string) ([]record.Record, *emitter) {
	t.Helper()
	for _, s := range otlpSignals {
		if s.name == name {
			e := newTestEmitter(Config{})
			if err := s.decode(otlpFixture(t, s, otlpProto), otlpProto, e); err != nil {
				t.Fatal(err)
			}
			return decodedRecords(t, e), e
		}
	}
	t.Fatalf("no signal %q", name)
	return nil, nil
}

func recordNamed(t *testing.T, rs []record.Record, name string) record.Record {
	t.Helper()
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no record named %q", name)
	return record.Record{}
}

func attr(r record.Record, key string) string {
	for _, kv := range r.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return "<absent>"
}

func TestOTLPLogsMapping(t *testing.T) {
	rs, _ := decodeFixture(t, "logs")
	if len(rs) != 5 {
		t.Fatalf("got %d records, want 5", len(rs))
	}
	r := rs[0]
	if r.Timestamp != otlpT0.UnixNano() || r.Scope != "checkout.http" || r.Body != "GET /cart 200" ||
		r.SeverityNumber != 9 || r.SeverityText != "INFO" || !r.HasTrace || r.TraceID != otlpTraceID || r.SpanID != otlpSpanID {
		t.Errorf("record 0 = %+v", r)
	}
	wantAttrs := []record.KV{kv("http.method", "GET"), kv("http.status_code", "200"), kv("duration_ms", "12.5"), kv("retries", "2"), kv("cached", "false")}
	if !slices.Equal(r.Attributes, wantAttrs) {
		t.Errorf("attributes = %v, want %v", r.Attributes, wantAttrs)
	}
	wantRes := []record.KV{kv("service.name", "checkout"), kv("host.name", "web-1"), kv("process.pid", "4242")}
	if !slices.Equal(r.Resource, wantRes) {
		t.Errorf("resource = %v, want %v", r.Resource, wantRes)
	}

	r = rs[1]
	if r.Timestamp != otlpT0.Add(2*time.Second).UnixNano() {
		t.Errorf("record 1 timestamp = %d, want the observed time", r.Timestamp)
	}
	if want := `{"error":"upstream \"payments\" timed out\n","retries":3,"ratio":0.25,"whole":2,"tags":["a",true,null,"+Inf"],"raw":"3q2+7w=="}`; r.Body != want {
		t.Errorf("map body = %s\nwant       %s", r.Body, want)
	}
	if got := attr(r, "payload"); got != "aGVsbG8=" {
		t.Errorf("bytes attribute = %q", got)
	}
	if got := attr(r, "user"); got != `{"id":"u-42","geo":{"country":"DE"}}` {
		t.Errorf("map attribute = %s", got)
	}
	if got := attr(r, "ports"); got != `[80,443]` {
		t.Errorf("array attribute = %s", got)
	}

	r = rs[2]
	if r.Name != "db.query" || r.Body != "1.5" || attr(r, "db.user") != "" || r.HasTrace {
		t.Errorf("record 2 = %+v", r)
	}
	r = rs[3]
	if r.Timestamp != otlpT0.Add(5*time.Second).UnixNano() || r.Scope != "" || r.Body != "" {
		t.Errorf("record 3 (observed time only) = %+v", r)
	}
	r = rs[4]
	if r.Body != "true" || !r.HasTrace || r.SpanID != [8]byte{} || r.SeverityNumber != 21 {
		t.Errorf("record 4 = %+v", r)
	}
}

func kv(k, v string) record.KV               { return record.KV{Key: k, Value: v} }
func bkt(ub float64, n uint64) record.Bucket { return record.Bucket{UpperBound: ub, Count: n} }
func qt(q, v float64) record.Quantile        { return record.Quantile{Quantile: q, Value: v} }

func TestOTLPMetricsConvertUnits(t *testing.T) {
	rs, e := decodeFixture(t, "metrics")
	if len(rs) != 10 {
		t.Fatalf("got %d records, want 10", len(rs))
	}
	if e.unknownUnits != 1 {
		t.Errorf("unknown units counted %d times, want 1 (Cel)", e.unknownUnits)
	}

	g := rs[0]
	if g.MetricKind != record.MetricGauge || g.Value != 17 || g.Unit != "{items}" || attr(g, "queue") != "orders" {
		t.Errorf("int gauge = %+v", g)
	}
	if rs[1].Value != 3.5 {
		t.Errorf("double gauge value = %v", rs[1].Value)
	}

	s := recordNamed(t, rs, "http.requests")
	if s.MetricKind != record.MetricSum || !s.Monotonic || s.Temporality != record.TemporalityCumulative || s.Value != 1234 {
		t.Errorf("cumulative sum = %+v", s)
	}
	s = recordNamed(t, rs, "memory.delta")
	if s.Monotonic || s.Temporality != record.TemporalityDelta || s.Value != -2560 || s.Unit != "By" {
		t.Errorf("delta sum in KiBy = %+v, want -2560 By", s)
	}

	h := recordNamed(t, rs, "http.server.duration")
	wantBuckets := []record.Bucket{bkt(5e6, 2), bkt(10e6, 3), bkt(25e6, 1), bkt(50e6, 3), bkt(math.Inf(1), 1)}
	if h.Unit != "ns" || !h.HasDistribution || h.Count != 10 || h.Sum != 123.5e6 || !h.HasMinMax || h.Min != 0.5e6 || h.Max != 80e6 ||
		!slices.Equal(h.Buckets, wantBuckets) {
		t.Errorf("histogram = %+v\nwant buckets %v", h, wantBuckets)
	}

	x := recordNamed(t, rs, "rpc.latency")
	r2 := math.Sqrt2 * 1e9
	wantBuckets = []record.Bucket{
		bkt(-r2, 1),            // negative index 1: [-2, -√2) s
		bkt(-1e9, 4),           // negative index 0: [-√2, -1) s
		bkt(1e6, 2),            // zero bucket: zero_threshold 1 ms
		bkt(1e9/math.Sqrt2, 1), // positive index -2: (0.5, 1/√2] s
		bkt(1e9, 2),            // positive index -1: (1/√2, 1] s
		bkt(r2, 3),             // positive index 0: (1, √2] s
	}
	if x.Unit != "ns" || x.MetricKind != record.MetricExponentialHistogram || x.Count != 13 || x.Sum != 1.25e9 ||
		x.Min != -1.3e9 || x.Max != 1.4e9 || !approxBuckets(x.Buckets, wantBuckets) {
		t.Errorf("exponential histogram = %+v\nwant buckets %v", x, wantBuckets)
	}

	q := recordNamed(t, rs, "payload.size")
	wantQ := []record.Quantile{qt(0, 512), qt(0.5, 1536), qt(0.99, 12288), qt(1, 16384)}
	if q.Unit != "By" || q.MetricKind != record.MetricSummary || q.Count != 100 || q.Sum != 2048*1024 || len(q.Quantiles) != len(wantQ) {
		t.Fatalf("summary = %+v", q)
	}
	for i := range wantQ {
		if q.Quantiles[i] != wantQ[i] {
			t.Errorf("quantile %d = %v, want %v", i, q.Quantiles[i], wantQ[i])
		}
	}

	u := recordNamed(t, rs, "cpu.temperature")
	if u.Unit != "Cel" || u.Value != 61.5 {
		t.Errorf("unknown unit: %+v, want Cel 61.5 unchanged", u)
	}
	st := recordNamed(t, rs, "disk.free")
	if math.Float64bits(st.Value) != staleNaNBits {
		t.Errorf("no_recorded_value point has value bits %#x, want the staleness NaN", math.Float64bits(st.Value))
	}
	j := recordNamed(t, rs, "jobs.processed")
	if j.Scope != "" || j.Resource[0].Value != "worker" || j.Value != 5 {
		t.Errorf("second resource = %+v", j)
	}
}

func approxBuckets(a, b []record.Bucket) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Count != b[i].Count || math.Abs(a[i].UpperBound-b[i].UpperBound) > 1e-9*math.Abs(b[i].UpperBound) {
			return false
		}
	}
	return true
}

func TestOTLPTracesMapping(t *testing.T) {
	rs, _ := decodeFixture(t, "traces")
	if len(rs) != 3 {
		t.Fatalf("got %d records, want 3", len(rs))
	}
	root := rs[0]
	if root.Name != "GET /checkout" || root.Duration != int64(250*time.Millisecond) || root.Timestamp != otlpT0.UnixNano() ||
		root.SpanKind != 2 || root.StatusCode != 1 || root.TraceID != otlpTraceID || root.SpanID != otlpSpanID || root.ParentSpanID != [8]byte{} {
		t.Errorf("root span = %+v", root)
	}
	wantEvents := `[{"name":"exception","time_unix_nano":` + itoa(otlpT0.Add(100*time.Millisecond).UnixNano()) +
		`,"attributes":{"exception.type":"TimeoutError","attempt":2}}]`
	if got := attr(root, "otel.span.events"); got != wantEvents {
		t.Errorf("otel.span.events = %s\nwant               %s", got, wantEvents)
	}
	wantLinks := `[{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"eee19b7ec3c1b176","attributes":{"link.kind":"follows_from"}}]`
	if got := attr(root, "otel.span.links"); got != wantLinks {
		t.Errorf("otel.span.links = %s\nwant              %s", got, wantLinks)
	}
	child := rs[1]
	if child.ParentSpanID != otlpSpanID || child.StatusCode != 2 || child.StatusMessage != "deadline exceeded" || child.SpanKind != 3 {
		t.Errorf("child span = %+v", child)
	}
	if got := attr(child, "otel.span.events"); !strings.HasSuffix(got, `"attributes":{}}]`) {
		t.Errorf("event without attributes = %s", got)
	}
	if got := attr(child, "otel.span.links"); got != "<absent>" {
		t.Errorf("span without links has otel.span.links %s", got)
	}
	if rs[2].Duration != 0 || rs[2].Resource[0].Value != "backend" {
		t.Errorf("third span = %+v", rs[2])
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// otlpGoldenSuffix names a format in golden file names.
func otlpGoldenSuffix(f otlpFormat) string {
	if f == otlpJSON {
		return "json"
	}
	return "proto"
}

// renderNDJSONValue returns how the NDJSON decoder stores js as the value of an attribute. It
// goes through decodeNDJSON, the decoder's entry point, to stay independent of its internals.
func renderNDJSONValue(t *testing.T, js string) string {
	t.Helper()
	e := newTestEmitter(Config{})
	line := `{"type":"log","ts":"2026-11-21T11:59:00Z","body":"x","attributes":{"k":` + js + `}}`
	if err := decodeNDJSON(&fastjson.Parser{}, []byte(line), e); err != nil {
		t.Fatalf("NDJSON decoder refused %s: %v", line, err)
	}
	rs := decodedRecords(t, e)
	if len(rs) != 1 {
		t.Fatalf("NDJSON decoder rejected %s: %+v", line, e.rejections)
	}
	return attr(rs[0], "k")
}

// TestOTLPRenderMatchesNDJSON checks that a value sent in OTLP is stored as the NDJSON decoder
// stores the same value sent as JSON.
func TestOTLPRenderMatchesNDJSON(t *testing.T) {
	str := func(s string) pcommon.Value { return pcommon.NewValueStr(s) }
	dbl := func(f float64) pcommon.Value { return pcommon.NewValueDouble(f) }
	obj := pcommon.NewValueMap()
	obj.Map().PutInt("b", 1)
	a := obj.Map().PutEmptySlice("a")
	a.AppendEmpty().SetInt(1)
	a.AppendEmpty().SetStr("x<y>&z")
	a.AppendEmpty().SetBool(true)
	a.AppendEmpty()
	a.AppendEmpty().SetDouble(2.5)
	obj.Map().PutEmptyMap("c").PutStr("d", "q\"uo\\te\n\t✓")
	for _, tc := range []struct {
		json string
		otlp pcommon.Value
		want string
	}{
		{`"plain"`, str("plain"), "plain"},
		{`"tab\there"`, str("tab\there"), "tab\there"},
		{`42`, pcommon.NewValueInt(42), "42"},
		{`-7`, pcommon.NewValueInt(-7), "-7"},
		{`-0`, dbl(math.Copysign(0, -1)), "0"},
		{`2.0`, dbl(2), "2"},
		{`1234567.0`, dbl(1234567), "1234567"},
		{`2.5`, dbl(2.5), "2.5"},
		{`1e21`, dbl(1e21), "1e+21"},
		{`1.5e-7`, dbl(1.5e-7), "1.5e-07"},
		{`9007199254740993.5`, dbl(9007199254740993.5), "9.007199254740994e+15"},
		{`true`, pcommon.NewValueBool(true), "true"},
		{`false`, pcommon.NewValueBool(false), "false"},
		{`null`, pcommon.NewValueEmpty(), ""},
		{`{"b":1,"a":[1,"x<y>&z",true,null,2.5],"c":{"d":"q\"uo\\te\n\t✓"}}`, obj, `{"b":1,"a":[1,"x<y>&z",true,null,2.5],"c":{"d":"q\"uo\\te\n\t✓"}}`},
	} {
		var c otlpConverter
		if got := c.render(tc.otlp, &c.arena); got != tc.want {
			t.Errorf("OTLP %s rendered %q, want %q", tc.json, got, tc.want)
		}
		if got := renderNDJSONValue(t, tc.json); got != tc.want {
			t.Errorf("NDJSON %s rendered %q, want %q (the decoders disagree)", tc.json, got, tc.want)
		}
	}
}

func TestOTLPRenderEdgeValues(t *testing.T) {
	var c otlpConverter
	b := pcommon.NewValueBytes()
	if got := c.render(b, &c.arena); got != "" {
		t.Errorf("empty bytes = %q", got)
	}
	b.Bytes().FromRaw([]byte{0, 1, 2, 0xff})
	if got := c.render(b, &c.arena); got != "AAEC/w==" {
		t.Errorf("bytes = %q", got)
	}
	for f, want := range map[float64]string{math.NaN(): "NaN", math.Inf(1): "+Inf", math.Inf(-1): "-Inf", 1 << 53: "9.007199254740992e+15", 0.1: "0.1"} {
		if got := c.render(pcommon.NewValueDouble(f), &c.arena); got != want {
			t.Errorf("double %v = %q, want %q", f, got, want)
		}
	}
	v := pcommon.NewValueSlice()
	v.Slice().AppendEmpty().SetDouble(math.NaN())
	v.Slice().AppendEmpty().SetStr("bad\xffutf8\x01\u2028")
	v.Slice().AppendEmpty().SetEmptyBytes()
	v.Slice().AppendEmpty().SetEmptyMap()
	if got, want := c.render(v, &c.arena), `["NaN","bad\ufffdutf8\u0001`+"\u2028"+`","",{}]`; got != want {
		t.Errorf("slice = %s, want %s", got, want)
	}
}

func TestOTLPDuplicateKeysKeptInOrder(t *testing.T) {
	body := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{
		"attributes":[{"key":"k","value":{"stringValue":"1"}},{"key":"k","value":{"stringValue":"2"}}],
		"body":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":"1"}},{"key":"a","value":{"doubleValue":2.5}}]}}}]}]}]}`
	body = strings.Replace(body, `"attributes"`, `"timeUnixNano":"`+strconv.FormatInt(otlpT0.UnixNano(), 10)+`","attributes"`, 1)
	e := newTestEmitter(Config{})
	if err := decodeOTLPLogs([]byte(body), otlpJSON, e); err != nil {
		t.Fatal(err)
	}
	rs := decodedRecords(t, e)
	if len(rs) != 1 {
		t.Fatalf("rejected: %+v", e.rejections)
	}
	if want := []record.KV{kv("k", "1"), kv("k", "2")}; !slices.Equal(rs[0].Attributes, want) {
		t.Errorf("attributes = %v, want %v", rs[0].Attributes, want)
	}
	if want := `{"a":1,"a":2.5}`; rs[0].Body != want {
		t.Errorf("body = %s, want %s", rs[0].Body, want)
	}
}

// otlpRejectCase is a request with valid items and some bad ones, and the rejections expected.
type otlpRejectCase struct {
	name       string
	cfg        Config
	signal     string
	payload    otlpPayload
	accepted   int
	rejections []Rejection // Index, Reason and a substring of Message
}

func TestOTLPRejectsBadItemsAndAcceptsTheRest(t *testing.T) {
	tooOld := pcommon.NewTimestampFromTime(testNow.Add(-8 * 24 * time.Hour))
	tooNew := pcommon.NewTimestampFromTime(testNow.Add(time.Hour))

	logs := plog.NewLogs()
	lrs := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().SetTimestamp(otlpTime(0))
	lrs.AppendEmpty().SetTimestamp(tooOld)
	lr := lrs.AppendEmpty()
	for _, k := range []string{"a", "b", "c", "d"} {
		lr.Attributes().PutStr(k, "v")
	}
	lrs.AppendEmpty().SetSeverityNumber(99)
	lrs2 := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs2.AppendEmpty().SetTimestamp(tooNew)
	lrs2.AppendEmpty().Body().SetStr(strings.Repeat("x", 100))
	lrs2.AppendEmpty().Body().SetStr("ok")

	traces := ptrace.NewTraces()
	spans := traces.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	newSpan := func(sid pcommon.SpanID, start, end time.Duration) ptrace.Span {
		sp := spans.AppendEmpty()
		sp.SetName("s")
		sp.SetTraceID(otlpTraceID)
		sp.SetSpanID(sid)
		sp.SetStartTimestamp(otlpTime(start))
		sp.SetEndTimestamp(otlpTime(end))
		return sp
	}
	newSpan(otlpSpanID, 0, time.Second)
	newSpan(pcommon.SpanID{}, 0, time.Second)
	newSpan(otlpSpanID2, time.Second, 0)
	newSpan(otlpSpanID3, 0, time.Second).SetTraceID(pcommon.TraceID{})
	newSpan(otlpSpanID3, 0, time.Second).SetKind(9)
	newSpan(otlpSpanID3, 0, time.Second).SetStartTimestamp(0)
	newSpan(otlpSpanID3, 0, 2*time.Second)

	metrics := pmetric.NewMetrics()
	ms := metrics.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	m := ms.AppendEmpty()
	m.SetName("g")
	gdps := m.SetEmptyGauge().DataPoints()
	gdps.AppendEmpty().SetIntValue(1)
	gdps.AppendEmpty() // neither as_int nor as_double
	m = ms.AppendEmpty()
	m.SetName("h")
	m.SetUnit("ms")
	hdps := m.SetEmptyHistogram().DataPoints()
	hp := hdps.AppendEmpty()
	hp.ExplicitBounds().FromRaw([]float64{1, 2})
	hp.BucketCounts().FromRaw([]uint64{1, 2}) // one count short
	hp = hdps.AppendEmpty()
	hp.ExplicitBounds().FromRaw([]float64{2, 1}) // decreasing
	hp.BucketCounts().FromRaw([]uint64{1, 2, 3})
	hp = hdps.AppendEmpty()
	hp.ExplicitBounds().FromRaw([]float64{1, 2})
	hp.BucketCounts().FromRaw([]uint64{1, 2, 3})
	hdps.AppendEmpty().SetCount(7) // no buckets at all: valid
	m = ms.AppendEmpty()
	m.SetName("e")
	edps := m.SetEmptyExponentialHistogram().DataPoints()
	edps.AppendEmpty().SetScale(21)
	ep := edps.AppendEmpty()
	ep.SetScale(-10)
	ep.Positive().SetOffset(0)
	ep.Positive().BucketCounts().FromRaw([]uint64{1, 1}) // 2^1024 overflows before the last bucket
	ep = edps.AppendEmpty()
	ep.SetScale(-10)
	ep.Positive().BucketCounts().FromRaw([]uint64{1}) // the last bound may overflow to +Inf
	m = ms.AppendEmpty()
	m.SetName("q")
	qv := m.SetEmptySummary().DataPoints().AppendEmpty().QuantileValues().AppendEmpty()
	qv.SetQuantile(1.5)
	m = ms.AppendEmpty() // no name
	m.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(1)
	m = ms.AppendEmpty()
	m.SetName("t")
	m.SetEmptySum().SetAggregationTemporality(7)
	m.Sum().DataPoints().AppendEmpty().SetIntValue(1)
	stampMissingTimes(logs, metrics, otlpTime(0))

	for _, tc := range []otlpRejectCase{
		{"logs", Config{MaxAttributes: 3, MaxLogBodyBytes: 50}, "logs", logsPayload(logs), 2, []Rejection{
			{Index: 1, Reason: ReasonTimestampTooOld, Message: "max_past"},
			{Index: 2, Reason: ReasonTooManyAttributes, Message: "4 attributes exceed the limit of 3"},
			{Index: 3, Reason: ReasonInvalidField, Message: "severity_number 99"},
			{Index: 4, Reason: ReasonTimestampTooNew, Message: "max_future"},
			{Index: 5, Reason: ReasonBodyTooLong, Message: "100 bytes"},
		}},
		{"traces", Config{}, "traces", tracesPayload(traces), 2, []Rejection{
			{Index: 1, Reason: ReasonInvalidField, Message: "span_id"},
			{Index: 2, Reason: ReasonInvalidField, Message: "before start_time_unix_nano"},
			{Index: 3, Reason: ReasonInvalidField, Message: "trace_id"},
			{Index: 4, Reason: ReasonInvalidField, Message: "kind 9"},
			{Index: 5, Reason: ReasonMissingField, Message: "start_time_unix_nano"},
		}},
		{"metrics", Config{}, "metrics", metricsPayload(metrics), 4, []Rejection{
			{Index: 1, Reason: ReasonMissingField, Message: "neither as_double nor as_int"},
			{Index: 2, Reason: ReasonInvalidField, Message: "2 bucket_counts for 2 explicit_bounds"},
			{Index: 3, Reason: ReasonInvalidField, Message: "explicit_bounds[1]"},
			{Index: 6, Reason: ReasonInvalidField, Message: "scale 21"},
			{Index: 7, Reason: ReasonInvalidField, Message: "increasing float64 bounds"},
			{Index: 9, Reason: ReasonInvalidField, Message: "quantile 1.5"},
			{Index: 10, Reason: ReasonMissingField, Message: "no name"},
			{Index: 11, Reason: ReasonInvalidField, Message: "aggregation_temporality 7"},
		}},
	} {
		runOTLPRejectCase(t, tc)
	}
}

// runOTLPRejectCase decodes tc's payload in every format and checks what was accepted and
// rejected.
func runOTLPRejectCase(t *testing.T, tc otlpRejectCase) {
	t.Helper()
	for _, f := range otlpFormats {
		t.Run(tc.name+"/"+f.String(), func(t *testing.T) {
			e := newTestEmitter(tc.cfg)
			var s otlpSignal
			for _, s = range otlpSignals {
				if s.name == tc.signal {
					break
				}
			}
			if err := s.decode(marshalOTLP(t, tc.payload, f), f, e); err != nil {
				t.Fatal(err)
			}
			if e.accepted() != tc.accepted {
				t.Errorf("accepted %d, want %d", e.accepted(), tc.accepted)
			}
			if len(e.rejections) != len(tc.rejections) {
				t.Fatalf("rejections:\n%+v\nwant:\n%+v", e.rejections, tc.rejections)
			}
			for i, want := range tc.rejections {
				got := e.rejections[i]
				if got.Index != want.Index || got.Reason != want.Reason || got.Line != 0 || !strings.Contains(got.Message, want.Message) {
					t.Errorf("rejection %d = %+v, want index %d, reason %s, message containing %q", i, got, want.Index, want.Reason, want.Message)
				}
			}
			decodedRecords(t, e) // every accepted record decodes
		})
	}
}

func TestOTLPMalformedBodyIs400(t *testing.T) {
	for _, s := range otlpSignals {
		for _, tc := range []struct {
			f    otlpFormat
			body string
		}{
			{otlpProto, "\x0a\xff\xff\xff\xff\x0f"}, // field 1, length beyond the body
			{otlpProto, "\xff"},
			{otlpJSON, `{"resourceLogs":`},
			{otlpJSON, `[1,2]`},
		} {
			e := newTestEmitter(Config{})
			err := s.decode([]byte(tc.body), tc.f, e)
			var re *requestError
			if !errors.As(err, &re) || re.status() != http.StatusBadRequest || re.reason != ReasonMalformed {
				t.Errorf("%s %s %q: err = %v, want a 400 requestError", s.name, tc.f, tc.body, err)
				continue
			}
			if !strings.Contains(re.msg, "OTLP "+s.name+" "+tc.f.String()) {
				t.Errorf("message %q does not name the signal and format", re.msg)
			}
			if e.accepted()+e.rejected() != 0 {
				t.Errorf("%s %s: events emitted for a malformed body", s.name, tc.f)
			}
		}
	}
}

func TestOTLPTooManyEventsIs413BeforeEmitting(t *testing.T) {
	for _, s := range otlpSignals {
		for _, f := range otlpFormats {
			body := otlpFixture(t, s, f)
			e := newTestEmitter(Config{MaxEventsPerRequest: 2})
			err := s.decode(body, f, e)
			var re *requestError
			if !errors.As(err, &re) || re.status() != http.StatusRequestEntityTooLarge || re.reason != ReasonTooManyEvents {
				t.Errorf("%s %s: err = %v, want a 413 requestError", s.name, f, err)
				continue
			}
			if e.accepted()+e.rejected() != 0 {
				t.Errorf("%s %s: %d accepted and %d rejected before refusing", s.name, f, e.accepted(), e.rejected())
			}
		}
	}
	// Exactly at the limit passes; metrics count data points, not metrics.
	e := newTestEmitter(Config{MaxEventsPerRequest: 10})
	if err := decodeOTLPMetrics(otlpFixture(t, otlpSignals[1], otlpProto), otlpProto, e); err != nil {
		t.Errorf("10 data points with a limit of 10: %v", err)
	}
	e = newTestEmitter(Config{MaxEventsPerRequest: 9})
	if err := decodeOTLPMetrics(otlpFixture(t, otlpSignals[1], otlpProto), otlpProto, e); err == nil || !strings.Contains(err.Error(), "holds 10 events") {
		t.Errorf("10 data points with a limit of 9: %v", err)
	}
}

func TestOTLPEmptyRequestAcceptsNothing(t *testing.T) {
	for _, s := range otlpSignals {
		for _, body := range []struct {
			f otlpFormat
			b string
		}{{otlpProto, ""}, {otlpJSON, "{}"}} {
			e := newTestEmitter(Config{})
			if err := s.decode([]byte(body.b), body.f, e); err != nil || e.accepted()+e.rejected() != 0 {
				t.Errorf("%s %s empty: err %v, %d accepted, %d rejected", s.name, body.f, err, e.accepted(), e.rejected())
			}
		}
	}
}

// stampMissingTimes gives every log record and metric data point without a time the time ts,
// so that cases about other fields are not rejected for their missing time.
func stampMissingTimes(ld plog.Logs, md pmetric.Metrics, ts pcommon.Timestamp) {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.Timestamp() == 0 && lr.ObservedTimestamp() == 0 {
					lr.SetTimestamp(ts)
				}
			}
		}
	}
	stamp := func(p interface {
		Timestamp() pcommon.Timestamp
		SetTimestamp(pcommon.Timestamp)
	}) {
		if p.Timestamp() == 0 {
			p.SetTimestamp(ts)
		}
	}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for _, p := range m.Gauge().DataPoints().All() {
						stamp(p)
					}
				case pmetric.MetricTypeSum:
					for _, p := range m.Sum().DataPoints().All() {
						stamp(p)
					}
				case pmetric.MetricTypeHistogram:
					for _, p := range m.Histogram().DataPoints().All() {
						stamp(p)
					}
				case pmetric.MetricTypeExponentialHistogram:
					for _, p := range m.ExponentialHistogram().DataPoints().All() {
						stamp(p)
					}
				case pmetric.MetricTypeSummary:
					for _, p := range m.Summary().DataPoints().All() {
						stamp(p)
					}
				}
			}
		}
	}
}

// A retried OTLP request must map onto the same events: nothing in a record may depend on when
// the request arrived. Items without a time used to take the time of receipt, which is hashed
// into the id and is part of the tables' sort key, so every retry stored them again; they are
// now rejected instead (issue 12, defect 1), and a log record falls back to its observed time.
func TestOTLPRetryYieldsTheSameEvents(t *testing.T) {
	for _, s := range otlpSignals {
		t.Run(s.name, func(t *testing.T) {
			body := otlpFixture(t, s, otlpProto)
			decodeAt := func(now time.Time) []record.Record {
				e := newTestEmitter(Config{})
				e.reset(e.cfg, testTenant, now)
				if err := s.decode(body, otlpProto, e); err != nil {
					t.Fatal(err)
				}
				if e.rejected() != 0 {
					t.Fatalf("fixture items rejected: %+v", e.rejections)
				}
				return decodedRecords(t, e)
			}
			first, retry := decodeAt(testNow), decodeAt(testNow.Add(90*time.Second))
			if len(first) == 0 || len(first) != len(retry) {
				t.Fatalf("%d records, then %d on retry", len(first), len(retry))
			}
			for i := range first {
				if a, b := first[i], retry[i]; a.EventID != b.EventID || a.Timestamp != b.Timestamp {
					t.Errorf("record %d: id %s time %d, on retry id %s time %d", i, a.EventID, a.Timestamp, b.EventID, b.Timestamp)
				}
			}
		})
	}

	logs := plog.NewLogs()
	lrs := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("no time at all")
	lrs.AppendEmpty().SetObservedTimestamp(otlpTime(0))
	metrics := pmetric.NewMetrics()
	m := metrics.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("g")
	m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	dp := m.Gauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpTime(0))
	dp.SetIntValue(2)
	for _, tc := range []otlpRejectCase{
		{"logs", Config{}, "logs", logsPayload(logs), 1, []Rejection{
			{Index: 0, Reason: ReasonMissingField, Message: "time_unix_nano and observed_time_unix_nano are both 0"},
		}},
		{"metrics", Config{}, "metrics", metricsPayload(metrics), 1, []Rejection{
			{Index: 0, Reason: ReasonMissingField, Message: "time_unix_nano is 0"},
		}},
	} {
		runOTLPRejectCase(t, tc)
	}
}
