package normalizer

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"
)

// nestedLogsProto builds an OTLP logs request with one log record whose attribute value is an
// array nested depth levels deep. Each level's content is only the next level, so the lengths
// are computed inside out and the headers written outside in: linear in depth.
func nestedLogsProto(depth int) []byte {
	msg := func(field protowire.Number, inner ...[]byte) []byte {
		var b []byte
		b = protowire.AppendTag(b, field, protowire.BytesType)
		return protowire.AppendBytes(b, bytes.Join(inner, nil))
	}
	innermost := msg(1, []byte("x")) // AnyValue{string_value: "x"}
	// Level i is AnyValue{array_value(5): ArrayValue{values(1): level i-1}}.
	arrayLen := make([]int, depth+1) // length of the ArrayValue of level i
	anyLen := make([]int, depth+1)   // length of the AnyValue of level i
	anyLen[0] = len(innermost)
	for i := 1; i <= depth; i++ {
		arrayLen[i] = 1 + protowire.SizeVarint(uint64(anyLen[i-1])) + anyLen[i-1]
		anyLen[i] = 1 + protowire.SizeVarint(uint64(arrayLen[i])) + arrayLen[i]
	}
	value := make([]byte, 0, anyLen[depth])
	for i := depth; i >= 1; i-- {
		value = protowire.AppendTag(value, 5, protowire.BytesType)
		value = protowire.AppendVarint(value, uint64(arrayLen[i]))
		value = protowire.AppendTag(value, 1, protowire.BytesType)
		value = protowire.AppendVarint(value, uint64(anyLen[i-1]))
	}
	value = append(value, innermost...)
	var ts []byte
	ts = protowire.AppendTag(ts, 1, protowire.Fixed64Type)
	ts = protowire.AppendFixed64(ts, uint64(testNow.Add(-time.Minute).UnixNano()))
	kv := append(msg(1, []byte("k")), msg(2, value)...) // KeyValue{key, value}
	logRecord := append(ts, msg(6, kv)...)              // LogRecord{time, attributes}
	return msg(1, msg(2, msg(2, logRecord)))            // Request{ResourceLogs{ScopeLogs{LogRecord}}}
}

func TestDeeplyNestedOTLPIsRefusedBeforeDecoding(t *testing.T) {
	e := newTestEmitter(Config{})
	if err := decodeOTLPLogs(nestedLogsProto(20), otlpProto, e); err != nil || e.accepted() != 1 {
		t.Fatalf("20 levels: err %v, accepted %d; want the record accepted", err, e.accepted())
	}
	for _, depth := range []int{60, 1_000_000} {
		start := time.Now()
		err := decodeOTLPLogs(nestedLogsProto(depth), otlpProto, newTestEmitter(Config{MaxDecompressedBytes: 64 << 20}))
		re, ok := err.(*requestError)
		if !ok || re.status() != http.StatusBadRequest || !strings.Contains(re.msg, "nests deeper") {
			t.Errorf("%d levels: err %v, want 400 naming the nesting", depth, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%d levels took %s to refuse", depth, d)
		}
	}
}

func TestDeeplyNestedJSONIsRefused(t *testing.T) {
	ok := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"[[[[ not brackets"}}]}]}]}`
	if err := checkJSONNesting([]byte(ok)); err != nil {
		t.Errorf("brackets inside strings counted: %v", err)
	}
	deep := strings.Repeat(`{"arrayValue":{"values":[`, 40) + `{}` + strings.Repeat(`]}}`, 40)
	body := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":` + deep + `}]}]}]}`
	if err := decodeOTLPLogs([]byte(body), otlpJSON, newTestEmitter(Config{})); err == nil || !strings.Contains(err.Error(), "nests deeper") {
		t.Errorf("120 levels of JSON: err %v, want refused", err)
	}
}

// nestValue makes v an array or map value nested depth levels deep, alternating the two.
func nestValue(v pcommon.Value, depth int) {
	for i := range depth {
		if i%2 == 0 {
			v = v.SetEmptySlice().AppendEmpty()
		} else {
			v = v.SetEmptyMap().PutEmpty("k")
		}
	}
	v.SetStr("x")
}

// nestAttr adds to m an attribute whose value is nested depth levels deep.
func nestAttr(m pcommon.Map, depth int) { nestValue(m.PutEmpty("deep"), depth) }

// TestNestingGuardReachesEveryValue checks, on bodies that pdata encodes, that the nesting walk
// follows every field that holds attributes or values (the otlpChildren table): a value nested
// too deep anywhere is refused, and the same body nested shallowly is not.
func TestNestingGuardReachesEveryValue(t *testing.T) {
	logs := func(put func(plog.ResourceLogs, plog.ScopeLogs, plog.LogRecord)) func() (otlpMsg, []byte, error) {
		return func() (otlpMsg, []byte, error) {
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			sl := rl.ScopeLogs().AppendEmpty()
			put(rl, sl, sl.LogRecords().AppendEmpty())
			b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
			return msgLogsRequest, b, err
		}
	}
	metrics := func(put func(pmetric.ResourceMetrics, pmetric.ScopeMetrics, pmetric.Metric)) func() (otlpMsg, []byte, error) {
		return func() (otlpMsg, []byte, error) {
			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			sm := rm.ScopeMetrics().AppendEmpty()
			m := sm.Metrics().AppendEmpty()
			m.SetName("m")
			put(rm, sm, m)
			b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
			return msgMetricsRequest, b, err
		}
	}
	traces := func(put func(ptrace.ResourceSpans, ptrace.ScopeSpans, ptrace.Span)) func() (otlpMsg, []byte, error) {
		return func() (otlpMsg, []byte, error) {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			ss := rs.ScopeSpans().AppendEmpty()
			put(rs, ss, ss.Spans().AppendEmpty())
			b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
			return msgTracesRequest, b, err
		}
	}
	var depth int // the nesting of the value under test
	for name, body := range map[string]func() (otlpMsg, []byte, error){
		"log body":       logs(func(_ plog.ResourceLogs, _ plog.ScopeLogs, lr plog.LogRecord) { nestValue(lr.Body(), depth) }),
		"log attributes": logs(func(_ plog.ResourceLogs, _ plog.ScopeLogs, lr plog.LogRecord) { nestAttr(lr.Attributes(), depth) }),
		"log resource": logs(func(rl plog.ResourceLogs, _ plog.ScopeLogs, _ plog.LogRecord) {
			nestAttr(rl.Resource().Attributes(), depth)
		}),
		"log scope": logs(func(_ plog.ResourceLogs, sl plog.ScopeLogs, _ plog.LogRecord) {
			nestAttr(sl.Scope().Attributes(), depth)
		}),
		"metric resource": metrics(func(rm pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric) {
			m.SetEmptyGauge().DataPoints().AppendEmpty()
			nestAttr(rm.Resource().Attributes(), depth)
		}),
		"metric scope": metrics(func(_ pmetric.ResourceMetrics, sm pmetric.ScopeMetrics, m pmetric.Metric) {
			m.SetEmptyGauge().DataPoints().AppendEmpty()
			nestAttr(sm.Scope().Attributes(), depth)
		}),
		"metric metadata": metrics(func(_ pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric) {
			m.SetEmptyGauge().DataPoints().AppendEmpty()
			nestAttr(m.Metadata(), depth)
		}),
		"gauge point": metrics(func(_ pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric) {
			nestAttr(m.SetEmptyGauge().DataPoints().AppendEmpty().Attributes(), depth)
		}),
		"sum point": metrics(func(_ pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric) {
			nestAttr(m.SetEmptySum().DataPoints().AppendEmpty().Attributes(), depth)
		}),
		"number exemplar": metrics(func(_ pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric) {
			nestAttr(m.SetEmptySum().DataPoints().AppendEmpty().Exemplars().AppendEmpty().FilteredAttributes(), depth)
		}),
		"histogram point": metrics(func(_ pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric) {
			nestAttr(m.SetEmptyHistogram().DataPoints().AppendEmpty().Attributes(), depth)
		}),
		"histogram exemplar": metrics(func(_ pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric) {
			nestAttr(m.SetEmptyHistogram().DataPoints().AppendEmpty().Exemplars().AppendEmpty().FilteredAttributes(), depth)
		}),
		"exponential histogram point": metrics(func(_ pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric) {
			nestAttr(m.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().Attributes(), depth)
		}),
		"exponential histogram exemplar": metrics(func(_ pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric) {
			nestAttr(m.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().Exemplars().AppendEmpty().FilteredAttributes(), depth)
		}),
		"summary point": metrics(func(_ pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric) {
			nestAttr(m.SetEmptySummary().DataPoints().AppendEmpty().Attributes(), depth)
		}),
		"span resource": traces(func(rs ptrace.ResourceSpans, _ ptrace.ScopeSpans, _ ptrace.Span) {
			nestAttr(rs.Resource().Attributes(), depth)
		}),
		"span scope": traces(func(_ ptrace.ResourceSpans, ss ptrace.ScopeSpans, _ ptrace.Span) {
			nestAttr(ss.Scope().Attributes(), depth)
		}),
		"span attributes": traces(func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) { nestAttr(s.Attributes(), depth) }),
		"span event": traces(func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
			nestAttr(s.Events().AppendEmpty().Attributes(), depth)
		}),
		"span link": traces(func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
			nestAttr(s.Links().AppendEmpty().Attributes(), depth)
		}),
	} {
		for _, tc := range []struct {
			depth   int
			refused bool
		}{{10, false}, {60, true}} {
			depth = tc.depth
			root, b, err := body()
			if err != nil {
				t.Fatalf("%s: cannot encode: %v", name, err)
			}
			if err := checkNesting(root, b, otlpProto); (err != nil) != tc.refused {
				t.Errorf("%s nested %d levels: checkNesting gave %v, want refused %v", name, tc.depth, err, tc.refused)
			}
		}
	}
}

// TestNestingGuardWalksWhatPdataUnmarshals nests a value through two paths pdata follows and
// the guard once did not: an unknown group before the nested field (pdata's skip may end the
// group after its first value and read the rest as fields of the enclosing message) and a
// field number beyond 32 bits (pdata keeps its low 32 bits: (1<<32)|1 is field 1). For every
// signal the guard must refuse the body before pdata recurses into it without bound.
func TestNestingGuardWalksWhatPdataUnmarshals(t *testing.T) {
	msg := func(field protowire.Number, inner ...[]byte) []byte {
		b := protowire.AppendTag(nil, field, protowire.BytesType)
		return protowire.AppendBytes(b, bytes.Join(inner, nil))
	}
	// A group that pdata ends after its first value: start-group 100, then a varint field.
	group := protowire.AppendTag(nil, 100, protowire.StartGroupType)
	group = protowire.AppendTag(group, 101, protowire.VarintType)
	group = protowire.AppendVarint(group, 0)
	wrapped := func(field uint64, inner []byte) []byte { // field number (1<<32)|field
		b := protowire.AppendVarint(nil, (1<<32|field)<<3|uint64(protowire.BytesType))
		return protowire.AppendBytes(b, inner)
	}
	nest := func(trick string, levels int) []byte { // an AnyValue nested levels deep
		v := msg(1, []byte("leaf"))
		for range levels {
			switch trick {
			case "group":
				v = msg(5, group, msg(1, v)) // AnyValue{array_value: ArrayValue{<group> values: v}}
			case "wrapped":
				v = msg(5, wrapped(1, v))
			}
		}
		return v
	}
	type body struct {
		root otlpMsg
		body []byte
	}
	bodies := func(v []byte) map[string]body {
		attr := func(field protowire.Number) []byte { return msg(field, msg(1, []byte("k")), msg(2, v)) } // KeyValue{key, value}
		return map[string]body{
			"logs":    {msgLogsRequest, msg(1, msg(2, msg(2, attr(6))))},                    // a log record's attribute
			"metrics": {msgMetricsRequest, msg(1, msg(2, msg(2, msg(5, msg(1, attr(7))))))}, // a gauge point's attribute
			"traces":  {msgTracesRequest, msg(1, msg(2, msg(2, attr(9))))},                  // a span's attribute
		}
	}
	for _, trick := range []string{"group", "wrapped"} {
		// The bodies are what pdata unmarshals into nested values: 3 levels come out as 3
		// nested arrays.
		for name, b := range bodies(nest(trick, 3)) {
			if got := pdataAttrDepth(t, name, b.body); got != 3 {
				t.Fatalf("%s, nested through %s: pdata reads %d nested arrays, want 3 (the test body is wrong)", name, trick, got)
			}
		}
		const levels = 2 * maxNesting
		for name, b := range bodies(nest(trick, levels)) {
			if err := checkNesting(b.root, b.body, otlpProto); err == nil || !strings.Contains(err.Error(), "nests deeper") {
				t.Errorf("%s, nested through %s: the guard let %d levels through (err %v)", name, trick, levels, err)
			}
		}
	}
}

// pdataAttrDepth unmarshals body (a request of signal) with pdata and returns how many arrays
// deep the attribute k of its first item nests.
func pdataAttrDepth(t *testing.T, signal string, body []byte) int {
	t.Helper()
	var attrs pcommon.Map
	switch signal {
	case "logs":
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		attrs = req.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes()
	case "metrics":
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		attrs = req.Metrics().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Attributes()
	case "traces":
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		attrs = req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
	}
	v, ok := attrs.Get("k")
	if !ok {
		t.Fatalf("%s: pdata finds no attribute k", signal)
	}
	depth := 0
	for v.Type() == pcommon.ValueTypeSlice && v.Slice().Len() > 0 {
		depth++
		v = v.Slice().At(0)
	}
	return depth
}
