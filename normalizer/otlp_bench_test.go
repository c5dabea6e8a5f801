package normalizer

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchOTLPLogs builds n log records across two resources, each about 300 bytes of protobuf: a
// 40-byte body, 8 attributes (strings, an int, a double, a bool), trace context and severity.
func benchOTLPLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	for r := 0; r < 2; r++ {
		rl := ld.ResourceLogs().AppendEmpty()
		res := rl.Resource().Attributes()
		res.PutStr("service.name", fmt.Sprintf("checkout-%d", r))
		res.PutStr("service.version", "1.42.0")
		res.PutStr("host.name", fmt.Sprintf("ip-10-0-1-%d.eu-west-1.compute.internal", r))
		res.PutStr("k8s.pod.name", fmt.Sprintf("checkout-7d9f8b6c4-x%dz2p", r))
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/acme/checkout/internal/http")
		for i := 0; i < n/2; i++ {
			lr := sl.LogRecords().AppendEmpty()
			ts := testNow.Add(-time.Minute + time.Duration(i)*time.Millisecond)
			lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Millisecond)))
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
			lr.Body().SetStr(fmt.Sprintf("GET /api/v1/orders/%08d 200 %dB 12.5ms", i, 1000+i))
			a := lr.Attributes()
			a.PutStr("http.request.method", "GET")
			a.PutStr("http.route", "/api/v1/orders/{id}")
			a.PutInt("http.response.status_code", 200)
			a.PutStr("user.id", fmt.Sprintf("u-%08d", i*7919%100000000))
			a.PutStr("client.address", fmt.Sprintf("10.1.%d.%d", i/256%256, i%256))
			a.PutStr("thread.name", fmt.Sprintf("worker-%d", i%16))
			a.PutDouble("duration_ms", 12.5+float64(i%100)/10)
			a.PutBool("cache.hit", i%3 == 0)
			var tid [16]byte
			var sid [8]byte
			for k := range tid {
				tid[k] = byte(i*31 + k + 1)
			}
			for k := range sid {
				sid[k] = byte(i*17 + k + 1)
			}
			lr.SetTraceID(tid)
			lr.SetSpanID(sid)
		}
	}
	return ld
}

// benchOTLPMetrics builds n data points: gauges, sums and histograms with 3 attributes each.
func benchOTLPMetrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "api")
	rm.Resource().Attributes().PutStr("host.name", "ip-10-0-1-7")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	ts := pcommon.NewTimestampFromTime(testNow.Add(-time.Minute))
	attrs := func(m pcommon.Map, i int) {
		m.PutStr("http.route", fmt.Sprintf("/api/v1/r%d", i%50))
		m.PutStr("http.request.method", "GET")
		m.PutInt("http.response.status_code", 200)
	}
	g := ms.AppendEmpty()
	g.SetName("queue.depth")
	s := ms.AppendEmpty()
	s.SetName("http.server.requests")
	s.SetUnit("{requests}")
	s.SetEmptySum().SetIsMonotonic(true)
	h := ms.AppendEmpty()
	h.SetName("http.server.duration")
	h.SetUnit("ms")
	h.SetEmptyHistogram()
	gdps := g.SetEmptyGauge().DataPoints()
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			dp := gdps.AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(float64(i))
			attrs(dp.Attributes(), i)
		case 1:
			dp := s.Sum().DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetIntValue(int64(i))
			attrs(dp.Attributes(), i)
		case 2:
			dp := h.Histogram().DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetCount(100)
			dp.SetSum(1234.5)
			dp.ExplicitBounds().FromRaw([]float64{5, 10, 25, 50, 100, 250, 500, 1000})
			dp.BucketCounts().FromRaw([]uint64{10, 20, 30, 20, 10, 5, 3, 1, 1})
			attrs(dp.Attributes(), i)
		}
	}
	return md
}

// benchOTLPTraces builds n spans with 6 attributes each, every fourth with an event.
func benchOTLPTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "frontend")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	start := testNow.Add(-time.Minute)
	for i := 0; i < n; i++ {
		sp := spans.AppendEmpty()
		sp.SetName("GET /api/v1/orders/{id}")
		var tid [16]byte
		var sid [8]byte
		for k := range tid {
			tid[k] = byte(i/8 + k + 1)
		}
		for k := range sid {
			sid[k] = byte(i + k + 1)
		}
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i)*time.Millisecond + 3*time.Millisecond)))
		a := sp.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", "/api/v1/orders/{id}")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("server.address", "api.acme.example")
		a.PutStr("user_agent.original", "okhttp/4.12.0")
		a.PutStr("client.address", fmt.Sprintf("10.1.%d.%d", i/256%256, i%256))
		if i%4 == 0 {
			ev := sp.Events().AppendEmpty()
			ev.SetName("cache.miss")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i)*time.Millisecond + time.Millisecond)))
			ev.Attributes().PutStr("cache.key", fmt.Sprintf("order:%d", i))
		}
	}
	return td
}

func benchOTLP(b *testing.B, p otlpPayload, f otlpFormat, decode func([]byte, otlpFormat, *emitter) error, events int) {
	body := marshalOTLP(b, p, f)
	cfg := Config{}.withDefaults()
	e := newTestEmitter(cfg)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.reset(&cfg, testTenant, testNow)
		if err := decode(body, f, e); err != nil {
			b.Fatal(err)
		}
		if e.accepted() != events {
			b.Fatalf("accepted %d of %d events: %+v", e.accepted(), events, e.rejections[:min(3, len(e.rejections))])
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkOTLPLogsProto measures the production path of protobuf logs: the in-place decoder.
func BenchmarkOTLPLogsProto(b *testing.B) {
	benchOTLP(b, logsPayload(benchOTLPLogs(1000)), otlpProto, decodeOTLPLogs, 1000)
}

// BenchmarkOTLPLogsProtoPdata measures the pdata decoder of protobuf logs, the parity oracle
// that was the production path before the in-place decoder, for comparison.
func BenchmarkOTLPLogsProtoPdata(b *testing.B) {
	benchOTLP(b, logsPayload(benchOTLPLogs(1000)), otlpProto, decodeOTLPLogsPdata, 1000)
}

func BenchmarkOTLPLogsJSON(b *testing.B) {
	benchOTLP(b, logsPayload(benchOTLPLogs(1000)), otlpJSON, decodeOTLPLogs, 1000)
}

func BenchmarkOTLPMetricsProto(b *testing.B) {
	benchOTLP(b, metricsPayload(benchOTLPMetrics(1000)), otlpProto, decodeOTLPMetrics, 1000)
}

func BenchmarkOTLPTracesProto(b *testing.B) {
	benchOTLP(b, tracesPayload(benchOTLPTraces(1000)), otlpProto, decodeOTLPTraces, 1000)
}
