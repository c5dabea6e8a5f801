package loadgen

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/ingestdev/ingest/internal/grpcwire"
)

// placeholder is written into every generated event (attribute loadgen.request) and replaced by
// a per-request id in each copy sent, so that no two requests carry the same events (the
// pipeline derives event ids from content and would fold repeated bodies).
const (
	placeholderPrefix = "LGRQ"
	placeholder       = placeholderPrefix + "0000000000000000"
)

// grpcPaths are the OTLP/gRPC Export methods of the signals.
var grpcPaths = map[Signal]string{
	SignalLogs:    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
	SignalMetrics: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	SignalTraces:  "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
}

// Body is a pre-generated request body.
type Body struct {
	Format      Format
	Signal      Signal
	Path        string // URL path: /v1/events, /v1/logs, /v1/metrics, /v1/traces or an OTLP/gRPC method
	ContentType string
	Events      int    // events in the body
	Data        []byte // the body, with placeholders
	offsets     []int  // offsets of the placeholders in Data
}

// Stamp returns a copy of the body's data with every placeholder replaced by id (16 hex digits).
func (b *Body) Stamp(id uint64) []byte {
	out := make([]byte, len(b.Data))
	copy(out, b.Data)
	var hx [16]byte
	hex.Encode(hx[:], []byte{byte(id >> 56), byte(id >> 48), byte(id >> 40), byte(id >> 32), byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)})
	for _, off := range b.offsets {
		copy(out[off+len(placeholderPrefix):], hx[:])
	}
	return out
}

// generator builds realistic events of about 300 bytes each.
type generator struct {
	rng *rand.Rand
	now func() time.Time
}

var (
	services = []string{"checkout", "auth", "search", "cart", "payments", "inventory"}
	routes   = []string{"/api/v1/orders", "/api/v1/login", "/api/v1/search", "/api/v1/cart/items", "/api/v1/pay", "/healthz"}
	methods  = []string{"GET", "POST", "PUT", "DELETE"}
	levels   = []struct {
		text string
		num  plog.SeverityNumber
	}{{"INFO", plog.SeverityNumberInfo}, {"INFO", plog.SeverityNumberInfo}, {"WARN", plog.SeverityNumberWarn}, {"ERROR", plog.SeverityNumberError}, {"DEBUG", plog.SeverityNumberDebug}}
	messages = []string{
		"request completed for customer order with %d line items after upstream inventory check",
		"user session refreshed; token rotated and cached for subsequent requests (attempt %d)",
		"slow query detected on orders_by_customer index scan, rows examined %d, consider pagination",
		"payment provider answered with retryable status; scheduling retry number %d with backoff",
	}
)

// fields is one event's content, shared by every format.
type fields struct {
	ts       time.Time
	service  string
	host     string
	route    string
	method   string
	status   int
	user     string
	level    int
	message  string
	duration float64 // ms
	traceID  [16]byte
	spanID   [8]byte
	index    int
}

func (g *generator) fields(i int) fields {
	f := fields{
		ts:       g.now(),
		service:  services[g.rng.IntN(len(services))],
		host:     "node-" + strconv.Itoa(g.rng.IntN(64)),
		route:    routes[g.rng.IntN(len(routes))],
		method:   methods[g.rng.IntN(len(methods))],
		status:   []int{200, 200, 200, 201, 404, 500}[g.rng.IntN(6)],
		user:     "u-" + strconv.Itoa(g.rng.IntN(100000)),
		level:    g.rng.IntN(len(levels)),
		duration: float64(g.rng.IntN(250000)) / 100,
		index:    i,
	}
	f.message = fmt.Sprintf(messages[g.rng.IntN(len(messages))], g.rng.IntN(50)+1)
	for j := range f.traceID {
		f.traceID[j] = byte(g.rng.Uint32())
	}
	for j := range f.spanID {
		f.spanID[j] = byte(g.rng.Uint32())
	}
	f.traceID[0] |= 1 // never all zero
	f.spanID[0] |= 1
	return f
}

// Generate builds one body of n events of the signal in the format.
func (g *generator) Generate(format Format, signal Signal, n int) (*Body, error) {
	b := &Body{Format: format, Signal: signal, Events: n}
	evs := make([]fields, n)
	for i := range evs {
		evs[i] = g.fields(i)
	}
	var err error
	switch format {
	case FormatNDJSON:
		b.Path, b.ContentType = "/v1/events", "application/x-ndjson"
		b.Data, err = ndjsonBody(signal, evs)
	case FormatOTLPProto, FormatOTLPJSON:
		b.Path = "/v1/" + string(signal)
		b.ContentType = "application/x-protobuf"
		if format == FormatOTLPJSON {
			b.ContentType = "application/json"
		}
		b.Data, err = otlpBody(format, signal, evs)
	case FormatOTLPGRPC:
		b.Path, b.ContentType = grpcPaths[signal], grpcwire.ContentType
		var msg []byte
		if msg, err = otlpBody(FormatOTLPProto, signal, evs); err == nil {
			b.Data = grpcwire.AppendMessage(nil, msg) // the placeholders keep their length: the prefix stays right
		}
	default:
		return nil, fmt.Errorf("cannot generate format %q: unknown", format)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot generate %s %s: %w", format, signal, err)
	}
	for off := 0; ; {
		i := bytes.Index(b.Data[off:], []byte(placeholder))
		if i < 0 {
			break
		}
		b.offsets = append(b.offsets, off+i)
		off += i + len(placeholder)
	}
	if len(b.offsets) != n {
		return nil, fmt.Errorf("cannot generate %s %s: %d placeholders for %d events", format, signal, len(b.offsets), n)
	}
	return b, nil
}

// ndjsonBody renders native-schema lines by hand (encoding/json for the strings).
func ndjsonBody(signal Signal, evs []fields) ([]byte, error) {
	var buf bytes.Buffer
	for _, f := range evs {
		line := map[string]any{
			"ts":       f.ts.UTC().Format(time.RFC3339Nano),
			"resource": map[string]string{"service.name": f.service, "host.name": f.host},
		}
		attrs := map[string]string{
			"http.method": f.method, "http.route": f.route, "loadgen.i": strconv.Itoa(f.index), "loadgen.request": placeholder,
		}
		switch signal {
		case SignalLogs:
			line["type"] = "log"
			line["severity"] = levels[f.level].text
			line["body"] = f.message
			attrs["user.id"] = f.user
			line["trace_id"] = hex.EncodeToString(f.traceID[:])
			line["span_id"] = hex.EncodeToString(f.spanID[:])
		case SignalMetrics:
			line["type"] = "metric"
			line["name"] = "http.server.request.duration"
			line["value"] = f.duration
			line["unit"] = "ms"
			attrs["http.status_code"] = strconv.Itoa(f.status)
		case SignalTraces:
			line["type"] = "span"
			line["name"] = f.method + " " + f.route
			line["trace_id"] = hex.EncodeToString(f.traceID[:])
			line["span_id"] = hex.EncodeToString(f.spanID[:])
			line["duration"] = strconv.FormatFloat(f.duration, 'f', -1, 64) + "ms"
			attrs["http.status_code"] = strconv.Itoa(f.status)
			attrs["user.id"] = f.user
		default:
			return nil, fmt.Errorf("unknown signal %q", signal)
		}
		line["attributes"] = attrs
		b, err := json.Marshal(line)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

func putAttrs(m pcommon.Map, f fields, extra ...string) {
	m.PutStr("http.method", f.method)
	m.PutStr("http.route", f.route)
	m.PutStr("loadgen.i", strconv.Itoa(f.index))
	m.PutStr("loadgen.request", placeholder)
	for i := 0; i+1 < len(extra); i += 2 {
		m.PutStr(extra[i], extra[i+1])
	}
}

// otlpBody builds an export request with pdata: one resource per event's service would bloat
// the body, so events share one resource (the first event's) and one scope.
func otlpBody(format Format, signal Signal, evs []fields) ([]byte, error) {
	res := func(r pcommon.Resource) {
		r.Attributes().PutStr("service.name", evs[0].service)
		r.Attributes().PutStr("host.name", evs[0].host)
	}
	type marshaler interface {
		MarshalProto() ([]byte, error)
		MarshalJSON() ([]byte, error)
	}
	var req marshaler
	switch signal {
	case SignalLogs:
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		res(rl.Resource())
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("loadgen")
		for _, f := range evs {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(f.ts))
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(f.ts))
			lr.SetSeverityText(levels[f.level].text)
			lr.SetSeverityNumber(levels[f.level].num)
			lr.Body().SetStr(f.message)
			lr.SetTraceID(pcommon.TraceID(f.traceID))
			lr.SetSpanID(pcommon.SpanID(f.spanID))
			putAttrs(lr.Attributes(), f, "user.id", f.user)
		}
		req = plogotlp.NewExportRequestFromLogs(ld)
	case SignalMetrics:
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		res(rm.Resource())
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("loadgen")
		m := sm.Metrics().AppendEmpty()
		m.SetName("http.server.request.duration")
		m.SetUnit("ms")
		dps := m.SetEmptyGauge().DataPoints()
		for _, f := range evs {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(f.ts))
			dp.SetDoubleValue(f.duration)
			putAttrs(dp.Attributes(), f, "http.status_code", strconv.Itoa(f.status), "host.id", f.host)
		}
		req = pmetricotlp.NewExportRequestFromMetrics(md)
	case SignalTraces:
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		res(rs.Resource())
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("loadgen")
		for _, f := range evs {
			sp := ss.Spans().AppendEmpty()
			sp.SetName(f.method + " " + f.route)
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetTraceID(pcommon.TraceID(f.traceID))
			sp.SetSpanID(pcommon.SpanID(f.spanID))
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(f.ts))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(f.ts.Add(time.Duration(f.duration * float64(time.Millisecond)))))
			putAttrs(sp.Attributes(), f, "http.status_code", strconv.Itoa(f.status), "user.id", f.user)
		}
		req = ptraceotlp.NewExportRequestFromTraces(td)
	default:
		return nil, fmt.Errorf("unknown signal %q", signal)
	}
	if format == FormatOTLPJSON {
		return req.MarshalJSON()
	}
	return req.MarshalProto()
}

// markerBody renders one NDJSON marker log whose body is the marker text.
func markerBody(text string, ts time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": "log", "ts": ts.UTC().Format(time.RFC3339Nano), "severity": "INFO", "body": text,
		"attributes": map[string]string{"loadgen.marker": "true"},
		"resource":   map[string]string{"service.name": "loadgen"},
	})
	return append(b, '\n')
}
