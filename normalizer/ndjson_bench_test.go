package normalizer

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fastjson"
)

// benchNDJSONBody returns n realistic native events of about 300 bytes each, one per line: 7 in
// 10 logs, 2 in 10 metrics, 1 in 10 spans, timestamps within the minute before testNow.
func benchNDJSONBody(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		ts := testNow.Add(-60e9).UnixNano() + int64(i)*1e6 // one event per ms
		trace := fmt.Sprintf("4bf92f3577b34da6a3ce929d%08x", i)
		span := fmt.Sprintf("00f067aa%08x", i)
		switch i % 10 {
		case 0, 1:
			fmt.Fprintf(&b, `{"type":"metric","ts":%d.%03d,"ts_unit":"ms","name":"http.server.duration","value":%d.5,"unit":"ms",`+
				`"attributes":{"http.method":"GET","http.route":"/api/v1/orders/{id}","http.status_code":200,"sampled":true},`+
				`"resource":{"service.name":"checkout","host.name":"web-%d","cloud.region":"eu-west-1"}}`+"\n",
				ts/1e6, i%1000, 10+i%90, i%8)
		case 2:
			fmt.Fprintf(&b, `{"type":"span","ts":"%s","name":"SELECT orders","trace_id":"%s","span_id":"%s","parent_span_id":"00f067aa0ba902b7","duration":"%d.5ms",`+
				`"attributes":{"db.system":"postgresql","db.statement":"SELECT * FROM orders WHERE id=$1","db.rows":1},`+
				`"resource":{"service.name":"checkout","host.name":"web-%d"}}`+"\n",
				testNow.Add(-60e9).Add(1e6*time.Duration(i)).Format("2006-01-02T15:04:05.000Z07:00"), trace, span, 1+i%40, i%8)
		default:
			fmt.Fprintf(&b, `{"type":"log","ts":"%s","severity":"INFO","body":"GET /api/v1/orders/%d done: 200 in %dms",`+
				`"trace_id":"%s","span_id":"%s",`+
				`"attributes":{"http.status_code":200,"user.id":"u-%d"},`+
				`"resource":{"service.name":"checkout","host.name":"web-%d"}}`+"\n",
				testNow.Add(-60e9).Add(1e6*time.Duration(i)).Format("2006-01-02T15:04:05.000Z07:00"), 10000+i, 1+i%200, trace, span, 8000+i, i%8)
		}
	}
	return b.Bytes()
}

// BenchmarkNDJSON measures decode, validation, unit conversion and record encoding of NDJSON
// events on one goroutine: go test ./normalizer -run '^$' -bench NDJSON -benchmem -cpu 1
func BenchmarkNDJSON(b *testing.B) {
	const events = 1000
	body := benchNDJSONBody(events)
	var p fastjson.Parser
	cfg := DefaultConfig()
	e := newTestEmitter(cfg)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	iterations := 0
	for b.Loop() {
		iterations++
		e.reset(&cfg, testTenant, testNow)
		if err := decodeNDJSON(&p, body, e); err != nil {
			b.Fatal(err)
		}
		if e.accepted() != events {
			b.Fatalf("accepted %d of %d events; first rejection: %+v", e.accepted(), events, e.rejections[0])
		}
	}
	b.ReportMetric(float64(events)*float64(iterations)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(len(body))/events, "bytes/event")
}
