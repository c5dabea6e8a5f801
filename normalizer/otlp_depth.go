package normalizer

import (
	"github.com/ingestdev/ingest/internal/otlpwire"
)

// Nesting guard. pdata (v1.70) puts no bound on the nesting of AnyValue arrays and maps when it
// unmarshals, so a few kilobytes of gzip could nest values millions deep and exhaust the
// goroutine stack, a crash that recover cannot catch (opentelemetry-collector#15301). Before a
// body reaches pdata, checkNesting walks its structure once, without decoding any value, and
// refuses bodies nested deeper than maxNesting. Decoding remains pdata's.

// maxNesting bounds the message depth of an OTLP protobuf body and the bracket depth of a JSON
// body. The fixed OTLP structure uses about 8 levels (JSON about 12); each nested array or map
// value adds 2 protobuf levels (3 in JSON), so values may nest about 30 levels deep.
const maxNesting = 100

// otlpMsg names an OTLP message type for the nesting walk.
type otlpMsg uint8

const (
	msgOther otlpMsg = iota // a message without nested messages of interest, or a scalar
	msgLogsRequest
	msgResourceLogs
	msgScopeLogs
	msgLogRecord
	msgMetricsRequest
	msgResourceMetrics
	msgScopeMetrics
	msgMetric
	msgNumberPoints // Gauge and Sum
	msgHistogram    //
	msgExpHistogram //
	msgSummary      //
	msgNumberDataPoint
	msgHistogramDataPoint
	msgExpHistogramDataPoint
	msgSummaryDataPoint
	msgExemplar
	msgTracesRequest
	msgResourceSpans
	msgScopeSpans
	msgSpan
	msgSpanEvent
	msgSpanLink
	msgResource
	msgScope
	msgKeyValue
	msgAnyValue
	msgArrayValue
	msgKeyValueList
)

// otlpEdge is a field that leads to attributes or values: a message of type child in field.
type otlpEdge struct {
	field uint64
	child otlpMsg
}

// otlpChildren lists, per message type, the fields that lead to attributes and values, with
// the numbers of the one OTLP wire table (otlpwire). Every other field is skipped unwalked: no
// other OTLP field can nest without bound.
var otlpChildren = [...][]otlpEdge{
	msgLogsRequest:    {{otlpwire.LogsRequestResourceLogs, msgResourceLogs}},
	msgResourceLogs:   {{otlpwire.ResourceLogsResource, msgResource}, {otlpwire.ResourceLogsScopeLogs, msgScopeLogs}, {otlpwire.ResourceLogsDeprecatedScopeLogs, msgScopeLogs}},
	msgScopeLogs:      {{otlpwire.ScopeLogsScope, msgScope}, {otlpwire.ScopeLogsLogRecords, msgLogRecord}},
	msgLogRecord:      {{otlpwire.LogRecordBody, msgAnyValue}, {otlpwire.LogRecordAttributes, msgKeyValue}},
	msgMetricsRequest: {{otlpwire.MetricsRequestResourceMetrics, msgResourceMetrics}},
	msgResourceMetrics: {{otlpwire.ResourceMetricsResource, msgResource}, {otlpwire.ResourceMetricsScopeMetrics, msgScopeMetrics},
		{otlpwire.ResourceMetricsDeprecatedScopeMetrics, msgScopeMetrics}},
	msgScopeMetrics: {{otlpwire.ScopeMetricsScope, msgScope}, {otlpwire.ScopeMetricsMetrics, msgMetric}},
	msgMetric: {{otlpwire.MetricGauge, msgNumberPoints}, {otlpwire.MetricSum, msgNumberPoints}, {otlpwire.MetricHistogram, msgHistogram},
		{otlpwire.MetricExponentialHistogram, msgExpHistogram}, {otlpwire.MetricSummary, msgSummary}, {otlpwire.MetricMetadata, msgKeyValue}},
	msgNumberPoints:          {{otlpwire.GaugeDataPoints, msgNumberDataPoint}}, // Sum's data_points is the same field
	msgHistogram:             {{otlpwire.HistogramDataPoints, msgHistogramDataPoint}},
	msgExpHistogram:          {{otlpwire.ExponentialHistogramDataPoints, msgExpHistogramDataPoint}},
	msgSummary:               {{otlpwire.SummaryDataPoints, msgSummaryDataPoint}},
	msgNumberDataPoint:       {{otlpwire.NumberDataPointExemplars, msgExemplar}, {otlpwire.NumberDataPointAttributes, msgKeyValue}},
	msgHistogramDataPoint:    {{otlpwire.HistogramDataPointExemplars, msgExemplar}, {otlpwire.HistogramDataPointAttributes, msgKeyValue}},
	msgExpHistogramDataPoint: {{otlpwire.ExponentialHistogramDataPointAttributes, msgKeyValue}, {otlpwire.ExponentialHistogramDataPointExemplars, msgExemplar}},
	msgSummaryDataPoint:      {{otlpwire.SummaryDataPointAttributes, msgKeyValue}},
	msgExemplar:              {{otlpwire.ExemplarFilteredAttributes, msgKeyValue}},
	msgTracesRequest:         {{otlpwire.TracesRequestResourceSpans, msgResourceSpans}},
	msgResourceSpans: {{otlpwire.ResourceSpansResource, msgResource}, {otlpwire.ResourceSpansScopeSpans, msgScopeSpans},
		{otlpwire.ResourceSpansDeprecatedScopeSpans, msgScopeSpans}},
	msgScopeSpans:   {{otlpwire.ScopeSpansScope, msgScope}, {otlpwire.ScopeSpansSpans, msgSpan}},
	msgSpan:         {{otlpwire.SpanAttributes, msgKeyValue}, {otlpwire.SpanEvents, msgSpanEvent}, {otlpwire.SpanLinks, msgSpanLink}},
	msgSpanEvent:    {{otlpwire.SpanEventAttributes, msgKeyValue}},
	msgSpanLink:     {{otlpwire.SpanLinkAttributes, msgKeyValue}},
	msgResource:     {{otlpwire.ResourceAttributes, msgKeyValue}},
	msgScope:        {{otlpwire.InstrumentationScopeAttributes, msgKeyValue}},
	msgKeyValue:     {{otlpwire.KeyValueValue, msgAnyValue}},
	msgAnyValue:     {{otlpwire.AnyValueArrayValue, msgArrayValue}, {otlpwire.AnyValueKvlistValue, msgKeyValueList}},
	msgArrayValue:   {{otlpwire.ArrayValueValues, msgAnyValue}},
	msgKeyValueList: {{otlpwire.KeyValueListValues, msgKeyValue}},
}

// otlpChild returns the type of the message in field of a message of type t, and whether the
// walk enters it.
func otlpChild(t otlpMsg, field uint64) (otlpMsg, bool) {
	for _, e := range otlpChildren[t] {
		if e.field == field {
			return e.child, true
		}
	}
	return msgOther, false
}

func errTooDeep() *requestError {
	return newRequestError(ReasonMalformed,
		"body nests deeper than %d levels; attribute and body values may nest about 30 levels", maxNesting)
}

// checkNesting refuses a body nested deeper than maxNesting. It reports nothing else: a body
// that is malformed in another way is left for the decoder to describe.
func checkNesting(root otlpMsg, body []byte, f otlpFormat) error {
	if f == otlpJSON {
		return checkJSONNesting(body)
	}
	if !protoNestingOK(root, body, 1) {
		return errTooDeep()
	}
	return nil
}

// protoNestingOK walks message m of type t at depth; it returns false only when the nesting
// exceeds maxNesting. Each byte is scanned once, by the innermost message holding it. It reads
// tags, varints, lengths and unknown groups exactly as pdata does (wireTag, wireVarint, wireLen,
// wireSkip: a field number wraps to 32 bits, an unknown group may end after its first value and
// leave the rest to the enclosing message), so that every path pdata unmarshals is walked; where
// pdata would fail, the walk stops and leaves the error to the decoder.
func protoNestingOK(t otlpMsg, m []byte, depth int) bool {
	if depth > maxNesting {
		return false
	}
	for pos := 0; pos < len(m); {
		field, wire, next, ok := wireTag(m, pos)
		if !ok {
			return true
		}
		pos = next
		switch wire {
		case otlpwire.WireLen:
			lo, hi, ok := wireLen(m, pos)
			if !ok {
				return true
			}
			pos = hi
			if child, ok := otlpChild(t, uint64(field)); ok && !protoNestingOK(child, m[lo:hi], depth+1) {
				return false
			}
		default: // varints, fixed values and groups, skipped as pdata skips them
			if pos, ok = wireSkip(m, pos, wire); !ok {
				return true
			}
		}
	}
	return true
}

// checkJSONNesting counts bracket depth outside strings.
func checkJSONNesting(b []byte) error {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxNesting {
				return errTooDeep()
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}
