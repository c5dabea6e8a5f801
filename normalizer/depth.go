package normalizer

import (
	"encoding/binary"
	"net/http"
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

// otlpChildren maps a message type and field number to the type of the nested message, for the
// fields that lead to attributes and values (checked against pdata v1.70's generated code).
var otlpChildren = map[otlpMsg]map[uint64]otlpMsg{
	msgLogsRequest:           {1: msgResourceLogs},
	msgResourceLogs:          {1: msgResource, 2: msgScopeLogs, 1000: msgScopeLogs},
	msgScopeLogs:             {1: msgScope, 2: msgLogRecord},
	msgLogRecord:             {5: msgAnyValue, 6: msgKeyValue},
	msgMetricsRequest:        {1: msgResourceMetrics},
	msgResourceMetrics:       {1: msgResource, 2: msgScopeMetrics, 1000: msgScopeMetrics},
	msgScopeMetrics:          {1: msgScope, 2: msgMetric},
	msgMetric:                {5: msgNumberPoints, 7: msgNumberPoints, 9: msgHistogram, 10: msgExpHistogram, 11: msgSummary, 12: msgKeyValue},
	msgNumberPoints:          {1: msgNumberDataPoint},
	msgHistogram:             {1: msgHistogramDataPoint},
	msgExpHistogram:          {1: msgExpHistogramDataPoint},
	msgSummary:               {1: msgSummaryDataPoint},
	msgNumberDataPoint:       {5: msgExemplar, 7: msgKeyValue},
	msgHistogramDataPoint:    {8: msgExemplar, 9: msgKeyValue},
	msgExpHistogramDataPoint: {1: msgKeyValue, 11: msgExemplar},
	msgSummaryDataPoint:      {7: msgKeyValue},
	msgExemplar:              {7: msgKeyValue},
	msgTracesRequest:         {1: msgResourceSpans},
	msgResourceSpans:         {1: msgResource, 2: msgScopeSpans, 1000: msgScopeSpans},
	msgScopeSpans:            {1: msgScope, 2: msgSpan},
	msgSpan:                  {9: msgKeyValue, 11: msgSpanEvent, 13: msgSpanLink},
	msgSpanEvent:             {3: msgKeyValue},
	msgSpanLink:              {4: msgKeyValue},
	msgResource:              {1: msgKeyValue},
	msgScope:                 {3: msgKeyValue},
	msgKeyValue:              {2: msgAnyValue},
	msgAnyValue:              {5: msgArrayValue, 6: msgKeyValueList},
	msgArrayValue:            {1: msgAnyValue},
	msgKeyValueList:          {1: msgKeyValue},
}

func errTooDeep() *requestError {
	return newRequestError(http.StatusBadRequest, ReasonMalformed,
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
// exceeds maxNesting. Each byte is scanned once, by the innermost message holding it.
func protoNestingOK(t otlpMsg, m []byte, depth int) bool {
	if depth > maxNesting {
		return false
	}
	children := otlpChildren[t]
	for len(m) > 0 {
		tag, n := binary.Uvarint(m)
		if n <= 0 {
			return true
		}
		m = m[n:]
		field, wire := tag>>3, tag&7
		switch wire {
		case 0: // varint
			_, n := binary.Uvarint(m)
			if n <= 0 {
				return true
			}
			m = m[n:]
		case 1: // 64-bit
			if len(m) < 8 {
				return true
			}
			m = m[8:]
		case 5: // 32-bit
			if len(m) < 4 {
				return true
			}
			m = m[4:]
		case 2: // length-delimited
			l, n := binary.Uvarint(m)
			if n <= 0 || l > uint64(len(m)-n) {
				return true
			}
			sub := m[n : n+int(l)]
			m = m[n+int(l):]
			if child, ok := children[field]; ok && !protoNestingOK(child, sub, depth+1) {
				return false
			}
		default: // groups (3, 4) and invalid wire types: not OTLP; the decoder reports it
			return true
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
