package eventcount

import (
	"bytes"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/ingestdev/ingest/internal/grpcwire"
)

// Realistic request bodies, as an OpenTelemetry Collector batches them: one resource with the
// usual attributes, records of a few hundred bytes.

func benchResource(r pcommon.Resource) {
	a := r.Attributes()
	a.PutStr("service.name", "checkout")
	a.PutStr("service.version", "1.42.0")
	a.PutStr("deployment.environment", "production")
	a.PutStr("host.name", "ip-10-0-12-34.eu-west-1.compute.internal")
	a.PutStr("k8s.pod.name", "checkout-7d9f8c6b5d-x2x8q")
	a.PutStr("k8s.namespace.name", "shop")
	a.PutStr("cloud.region", "eu-west-1")
}

func benchAttrs(a pcommon.Map, i int) {
	a.PutStr("http.request.method", "POST")
	a.PutStr("url.path", fmt.Sprintf("/api/v1/orders/%d", i))
	a.PutInt("http.response.status_code", 200)
	a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
	a.PutDouble("duration_ms", float64(i%1000)/7)
}

func benchLogs(n int) plogotlp.ExportRequest {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	benchResource(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/shop/checkout/log")
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i)))
		lr.SetObservedTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(fmt.Sprintf("order %d placed: 3 items, total 129.90 EUR, payment authorised by provider psp-eu", i))
		benchAttrs(lr.Attributes(), i)
		lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
		lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
	}
	return plogotlp.NewExportRequestFromLogs(ld)
}

func benchMetrics(n int) pmetricotlp.ExportRequest {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	benchResource(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	for i := range n / 10 {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("http.server.metric_%d", i))
		m.SetUnit("ms")
		switch i % 3 {
		case 0:
			s := m.SetEmptySum()
			s.SetIsMonotonic(true)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for j := range 10 {
				dp := s.DataPoints().AppendEmpty()
				dp.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(j)))
				dp.SetIntValue(int64(i * j))
				benchAttrs(dp.Attributes(), j)
			}
		case 1:
			g := m.SetEmptyGauge()
			for j := range 10 {
				dp := g.DataPoints().AppendEmpty()
				dp.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(j)))
				dp.SetDoubleValue(float64(i) / 3)
				benchAttrs(dp.Attributes(), j)
			}
		case 2:
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			for j := range 10 {
				dp := h.DataPoints().AppendEmpty()
				dp.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(j)))
				dp.SetCount(100)
				dp.SetSum(1234.5)
				dp.ExplicitBounds().FromRaw([]float64{5, 10, 25, 50, 100, 250, 500, 1000})
				dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 10, 40, 30, 10, 3, 1})
				benchAttrs(dp.Attributes(), j)
			}
		}
	}
	return pmetricotlp.NewExportRequestFromMetrics(md)
}

func benchTraces(n int) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	benchResource(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("POST /api/v1/orders")
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
		sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
		sp.SetParentSpanID(pcommon.SpanID{8, 7, 6, 5, 4, 3, 2, byte(i)})
		sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i)))
		sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_100_000_000 + int64(i)))
		benchAttrs(sp.Attributes(), i)
		ev := sp.Events().AppendEmpty()
		ev.SetName("order.validated")
		ev.SetTimestamp(pcommon.Timestamp(1_700_000_000_050_000_000 + int64(i)))
		sp.Status().SetCode(ptrace.StatusCodeOk)
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

// benchBodies returns the protobuf and JSON bodies of 2000 items of each signal (about 0.5 to
// 1.5 MB), and an NDJSON body of 2000 lines.
func benchBodies(b *testing.B) map[Kind][]byte {
	b.Helper()
	const n = 2000
	out := map[Kind][]byte{}
	for _, m := range []struct {
		proto, js Kind
		req       marshaler
	}{
		{OTLPLogsProto, OTLPLogsJSON, benchLogs(n)},
		{OTLPMetricsProto, OTLPMetricsJSON, benchMetrics(n)},
		{OTLPTracesProto, OTLPTracesJSON, benchTraces(n)},
	} {
		p, err := marshal(m.req, n)
		if err != nil {
			b.Fatal(err)
		}
		out[m.proto], out[m.js] = p.proto, p.json
	}
	var nd bytes.Buffer
	for i := range n {
		fmt.Fprintf(&nd, `{"ts":"2024-05-01T12:00:00.%06dZ","type":"log","name":"checkout","severity":"info","body":"order %d placed: 3 items, total 129.90 EUR","attributes":{"http.method":"POST","url.path":"/api/v1/orders/%d","status":200},"resource":{"service.name":"checkout","host.name":"ip-10-0-12-34"}}`+"\n", i, i, i)
	}
	out[NDJSON] = nd.Bytes()
	for i, k := range grpcKinds {
		out[k] = grpcwire.AppendMessage(nil, out[protoKinds[i]])
	}
	return out
}

func benchCount(b *testing.B, k Kind) {
	body := benchBodies(b)[k]
	want, err := Count(k, body)
	if err != nil || want != 2000 {
		b.Fatalf("Count = %d, %v; want 2000", want, err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if n, _ := Count(k, body); n != want {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(want)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkCountOTLPLogsProto(b *testing.B)    { benchCount(b, OTLPLogsProto) }
func BenchmarkCountOTLPMetricsProto(b *testing.B) { benchCount(b, OTLPMetricsProto) }
func BenchmarkCountOTLPTracesProto(b *testing.B)  { benchCount(b, OTLPTracesProto) }
func BenchmarkCountNDJSON(b *testing.B)           { benchCount(b, NDJSON) }

// BenchmarkCountOTLPGRPC is the protobuf walk behind the gRPC framing (one message per call).
func BenchmarkCountOTLPGRPC(b *testing.B) {
	for _, k := range grpcKinds {
		b.Run(k.String(), func(b *testing.B) { benchCount(b, k) })
	}
}

func BenchmarkCountOTLPJSON(b *testing.B) {
	for _, k := range []Kind{OTLPLogsJSON, OTLPMetricsJSON, OTLPTracesJSON} {
		b.Run(k.String(), func(b *testing.B) { benchCount(b, k) })
	}
}

// BenchmarkCountGzip measures Gunzip.Count on gzip bodies (default compression level); MB/s is
// of the compressed body, decompressed-MB/s of the body it expands to.
func BenchmarkCountGzip(b *testing.B) {
	bodies := benchBodies(b)
	for _, k := range []Kind{OTLPLogsProto, OTLPLogsJSON, NDJSON} {
		b.Run(k.String(), func(b *testing.B) {
			raw := bodies[k]
			body := gzipped(b, raw)
			var g Gunzip
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if n, _, err := g.Count(k, body, 64<<20); err != nil || n != 2000 {
					b.Fatal(n, err)
				}
			}
			b.ReportMetric(float64(len(raw))*float64(b.N)/b.Elapsed().Seconds()/1e6, "decompressed-MB/s")
		})
	}
}

// BenchmarkPdataUnmarshal is the baseline: what the normalizer pays to decode the same bodies.
func BenchmarkPdataUnmarshal(b *testing.B) {
	bodies := benchBodies(b)
	for _, k := range []Kind{OTLPLogsProto, OTLPMetricsProto, OTLPTracesProto} {
		b.Run(k.String(), func(b *testing.B) {
			body := bodies[k]
			decode := signalOf(k).decodeProt
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
