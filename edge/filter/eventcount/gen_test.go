package eventcount

import (
	"math"
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Random OTLP payloads built with pdata, the library the normalizer decodes with.

// gen makes random payloads; size scales the number of items.
type gen struct {
	r    *rand.Rand
	size int
}

func (g gen) n(max int) int { return g.r.IntN(max*g.size + 1) }

var tricky = []string{
	"", "a", `quote " inside`, `back\slash`, "\\\"", "line\nbreak\ttab", "\x00\x01\x1f", "ünïcödé ☃",
	"\U0001F600", "\xff\xfe", "}]{[,:", `{"resourceLogs":[]}`, `"`, `\`,
}

func (g gen) str() string {
	if g.r.IntN(3) == 0 {
		return tricky[g.r.IntN(len(tricky))]
	}
	b := make([]byte, g.r.IntN(24))
	for i := range b {
		b[i] = byte('a' + g.r.IntN(26))
	}
	return string(b)
}

func (g gen) value(v pcommon.Value, depth int) {
	kinds := 7
	if depth > 2 {
		kinds = 5
	}
	switch g.r.IntN(kinds) {
	case 0:
		v.SetStr(g.str())
	case 1:
		v.SetInt(g.r.Int64() - math.MaxInt64/2)
	case 2:
		f := g.r.NormFloat64() * 1e6
		if g.r.IntN(10) == 0 {
			f = []float64{0, math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, 5e-324}[g.r.IntN(6)]
		}
		v.SetDouble(f)
	case 3:
		v.SetBool(g.r.IntN(2) == 0)
	case 4:
		b := v.SetEmptyBytes()
		for range g.r.IntN(20) {
			b.Append(byte(g.r.Uint32()))
		}
	case 5:
		s := v.SetEmptySlice()
		for range g.r.IntN(4) {
			g.value(s.AppendEmpty(), depth+1)
		}
	case 6:
		g.attrs(v.SetEmptyMap(), depth+1)
	}
}

func (g gen) attrs(m pcommon.Map, depth int) {
	for range g.r.IntN(5) {
		g.value(m.PutEmpty(g.str()), depth)
	}
}

func (g gen) traceID() pcommon.TraceID {
	var id pcommon.TraceID
	for i := range id {
		id[i] = byte(g.r.Uint32())
	}
	return id
}

func (g gen) spanID() pcommon.SpanID {
	var id pcommon.SpanID
	for i := range id {
		id[i] = byte(g.r.Uint32())
	}
	return id
}

func (g gen) ts() pcommon.Timestamp { return pcommon.Timestamp(g.r.Uint64()) }

func (g gen) scope(s pcommon.InstrumentationScope) {
	if g.r.IntN(2) == 0 {
		s.SetName(g.str())
		s.SetVersion(g.str())
		g.attrs(s.Attributes(), 0)
	}
}

func (g gen) logs() plog.Logs {
	ld := plog.NewLogs()
	for range g.n(3) {
		rl := ld.ResourceLogs().AppendEmpty()
		g.attrs(rl.Resource().Attributes(), 0)
		rl.SetSchemaUrl(g.str())
		for range g.n(3) {
			sl := rl.ScopeLogs().AppendEmpty()
			g.scope(sl.Scope())
			for range g.n(5) {
				lr := sl.LogRecords().AppendEmpty()
				if g.r.IntN(4) == 0 {
					continue // an empty record
				}
				lr.SetTimestamp(g.ts())
				lr.SetObservedTimestamp(g.ts())
				lr.SetSeverityNumber(plog.SeverityNumber(g.r.IntN(25)))
				lr.SetSeverityText(g.str())
				lr.SetEventName(g.str())
				g.value(lr.Body(), 0)
				g.attrs(lr.Attributes(), 0)
				lr.SetTraceID(g.traceID())
				lr.SetSpanID(g.spanID())
				lr.SetDroppedAttributesCount(g.r.Uint32())
			}
		}
	}
	return ld
}

func (g gen) exemplars(es pmetric.ExemplarSlice) {
	for range g.r.IntN(3) {
		e := es.AppendEmpty()
		e.SetTimestamp(g.ts())
		e.SetDoubleValue(g.r.Float64())
		e.SetTraceID(g.traceID())
		g.attrs(e.FilteredAttributes(), 1)
	}
}

func (g gen) metrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	for range g.n(3) {
		rm := md.ResourceMetrics().AppendEmpty()
		g.attrs(rm.Resource().Attributes(), 0)
		for range g.n(3) {
			sm := rm.ScopeMetrics().AppendEmpty()
			g.scope(sm.Scope())
			for range g.n(4) {
				m := sm.Metrics().AppendEmpty()
				m.SetName(g.str())
				m.SetUnit(g.str())
				m.SetDescription(g.str())
				g.attrs(m.Metadata(), 1)
				points := g.n(4)
				switch g.r.IntN(6) {
				case 0: // no data
				case 1:
					dps := m.SetEmptyGauge().DataPoints()
					for range points {
						g.number(dps.AppendEmpty())
					}
				case 2:
					s := m.SetEmptySum()
					s.SetIsMonotonic(g.r.IntN(2) == 0)
					s.SetAggregationTemporality(pmetric.AggregationTemporality(g.r.IntN(3)))
					for range points {
						g.number(s.DataPoints().AppendEmpty())
					}
				case 3:
					h := m.SetEmptyHistogram()
					h.SetAggregationTemporality(pmetric.AggregationTemporality(g.r.IntN(3)))
					for range points {
						dp := h.DataPoints().AppendEmpty()
						dp.SetStartTimestamp(g.ts())
						dp.SetTimestamp(g.ts())
						g.attrs(dp.Attributes(), 0)
						dp.SetCount(g.r.Uint64())
						dp.SetSum(g.r.Float64())
						for range g.r.IntN(5) {
							dp.ExplicitBounds().Append(g.r.Float64())
							dp.BucketCounts().Append(g.r.Uint64())
						}
						if g.r.IntN(2) == 0 {
							dp.SetMin(g.r.Float64())
							dp.SetMax(g.r.Float64())
						}
						g.exemplars(dp.Exemplars())
					}
				case 4:
					h := m.SetEmptyExponentialHistogram()
					for range points {
						dp := h.DataPoints().AppendEmpty()
						dp.SetTimestamp(g.ts())
						g.attrs(dp.Attributes(), 0)
						dp.SetScale(int32(g.r.IntN(30)) - 10)
						dp.SetZeroCount(g.r.Uint64())
						dp.Positive().SetOffset(int32(g.r.IntN(100)) - 50)
						for range g.r.IntN(5) {
							dp.Positive().BucketCounts().Append(g.r.Uint64())
							dp.Negative().BucketCounts().Append(g.r.Uint64())
						}
						g.exemplars(dp.Exemplars())
					}
				case 5:
					s := m.SetEmptySummary()
					for range points {
						dp := s.DataPoints().AppendEmpty()
						dp.SetTimestamp(g.ts())
						g.attrs(dp.Attributes(), 0)
						dp.SetCount(g.r.Uint64())
						dp.SetSum(g.r.Float64())
						for range g.r.IntN(4) {
							q := dp.QuantileValues().AppendEmpty()
							q.SetQuantile(g.r.Float64())
							q.SetValue(g.r.Float64())
						}
					}
				}
			}
		}
	}
	return md
}

func (g gen) number(dp pmetric.NumberDataPoint) {
	dp.SetStartTimestamp(g.ts())
	dp.SetTimestamp(g.ts())
	g.attrs(dp.Attributes(), 0)
	if g.r.IntN(2) == 0 {
		dp.SetIntValue(g.r.Int64())
	} else {
		dp.SetDoubleValue(g.r.NormFloat64())
	}
	g.exemplars(dp.Exemplars())
}

func (g gen) traces() ptrace.Traces {
	td := ptrace.NewTraces()
	for range g.n(3) {
		rs := td.ResourceSpans().AppendEmpty()
		g.attrs(rs.Resource().Attributes(), 0)
		for range g.n(3) {
			ss := rs.ScopeSpans().AppendEmpty()
			g.scope(ss.Scope())
			for range g.n(5) {
				sp := ss.Spans().AppendEmpty()
				if g.r.IntN(5) == 0 {
					continue
				}
				sp.SetName(g.str())
				sp.SetTraceID(g.traceID())
				sp.SetSpanID(g.spanID())
				sp.SetParentSpanID(g.spanID())
				sp.TraceState().FromRaw(g.str())
				sp.SetKind(ptrace.SpanKind(g.r.IntN(6)))
				sp.SetStartTimestamp(g.ts())
				sp.SetEndTimestamp(g.ts())
				g.attrs(sp.Attributes(), 0)
				sp.Status().SetCode(ptrace.StatusCode(g.r.IntN(3)))
				sp.Status().SetMessage(g.str())
				for range g.r.IntN(3) {
					ev := sp.Events().AppendEmpty()
					ev.SetName(g.str())
					ev.SetTimestamp(g.ts())
					g.attrs(ev.Attributes(), 1)
				}
				for range g.r.IntN(3) {
					l := sp.Links().AppendEmpty()
					l.SetTraceID(g.traceID())
					l.SetSpanID(g.spanID())
					g.attrs(l.Attributes(), 1)
				}
			}
		}
	}
	return td
}

// payload is one random request of a signal in both encodings with its pdata count.
type payload struct {
	proto, json []byte
	count       int
}

// kindBody is a request body of a kind.
type kindBody struct {
	k    Kind
	body []byte
}

// bodies returns p in both encodings of s.
func (p payload) bodies(s signal) []kindBody {
	return []kindBody{{s.proto, p.proto}, {s.js, p.json}}
}

// signal describes one OTLP signal for the tests: its kinds and pdata's decoders.
type signal struct {
	name       string
	proto, js  Kind
	random     func(g gen) (payload, error)
	decodeProt func([]byte) (int, error)
	decodeJSON func([]byte) (int, error)
}

var signals = []signal{
	otlpSignal("logs", OTLPLogsProto, OTLPLogsJSON, plogotlp.NewExportRequest,
		func(g gen) plogotlp.ExportRequest { return plogotlp.NewExportRequestFromLogs(g.logs()) },
		func(r plogotlp.ExportRequest) int { return r.Logs().LogRecordCount() }),
	otlpSignal("metrics", OTLPMetricsProto, OTLPMetricsJSON, pmetricotlp.NewExportRequest,
		func(g gen) pmetricotlp.ExportRequest { return pmetricotlp.NewExportRequestFromMetrics(g.metrics()) },
		func(r pmetricotlp.ExportRequest) int { return r.Metrics().DataPointCount() }),
	otlpSignal("traces", OTLPTracesProto, OTLPTracesJSON, ptraceotlp.NewExportRequest,
		func(g gen) ptraceotlp.ExportRequest { return ptraceotlp.NewExportRequestFromTraces(g.traces()) },
		func(r ptraceotlp.ExportRequest) int { return r.Traces().SpanCount() }),
}

type marshaler interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

// marshal returns m in protobuf and JSON, holding count events.
func marshal(m marshaler, count int) (payload, error) {
	p, err := m.MarshalProto()
	if err != nil {
		return payload{}, err
	}
	j, err := m.MarshalJSON()
	if err != nil {
		return payload{}, err
	}
	return payload{proto: p, json: j, count: count}, nil
}

// exportRequest is what the pdata export requests of every signal have in common.
type exportRequest interface {
	marshaler
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

// otlpSignal describes the signal whose export request is R: newReq returns an empty one,
// random a random one, and count counts its events.
func otlpSignal[R exportRequest](name string, proto, js Kind, newReq func() R, random func(gen) R, count func(R) int) signal {
	decode := func(unmarshal func(R, []byte) error) func([]byte) (int, error) {
		return func(b []byte) (int, error) {
			r := newReq()
			err := unmarshal(r, b)
			return count(r), err
		}
	}
	return signal{
		name: name, proto: proto, js: js,
		random: func(g gen) (payload, error) {
			r := random(g)
			return marshal(r, count(r))
		},
		decodeProt: decode(R.UnmarshalProto),
		decodeJSON: decode(R.UnmarshalJSON),
	}
}

// signalOf returns the signal of an OTLP kind.
func signalOf(k Kind) signal {
	for _, s := range signals {
		if s.proto == k || s.js == k {
			return s
		}
	}
	panic("not an OTLP kind: " + k.String())
}

func mustRandom(t testing.TB, s signal, g gen) payload {
	t.Helper()
	p, err := s.random(g)
	if err != nil {
		t.Fatalf("cannot marshal random %s: %v", s.name, err)
	}
	return p
}
