package eventcount

import "github.com/ingestdev/ingest/internal/otlpwire"

// The protobuf walk mirrors the unmarshalers the normalizer runs (pdata v1.70,
// internal/generated_proto_*.go and internal/proto/unmarshal.go) on the path from the request
// down to the counted messages, and skips everything else by its wire length without looking
// inside. The field numbers and wire types come from the one OTLP wire table, package otlpwire
// (checked there against the OTLP descriptors and pdata); the path:
//
//	ExportLogsServiceRequest    resource_logs
//	ResourceLogs                scope_logs, deprecated_scope_logs
//	ScopeLogs                   log_records
//	ExportMetricsServiceRequest resource_metrics
//	ResourceMetrics             scope_metrics, deprecated_scope_metrics
//	ScopeMetrics                metrics
//	Metric                      oneof data: gauge, sum, histogram, exponential_histogram, summary
//	Gauge, Sum, Histogram, ExponentialHistogram, Summary   data_points
//	ExportTraceServiceRequest   resource_spans
//	ResourceSpans               scope_spans, deprecated_scope_spans
//	ScopeSpans                  spans
//
// pdata's decisions that change a count, mirrored here:
//   - A resource with no scope_* entry takes its deprecated_scope_* entries (field 1000,
//     the old instrumentation_library_* field; otlp.MigrateLogs and friends).
//   - The metric data oneof keeps only its last occurrence: a second gauge (or a sum after a
//     gauge) replaces the first, it is not merged as the protobuf spec would.
//   - The field number is the tag shifted right by 3 and truncated to int32; 0 or negative is an
//     error. Unknown fields are skipped as proto.ConsumeUnknown does, groups included.
//
// Every error the walk reports is one pdata reports too (a truncated field, a bad varint, a
// wrong wire type on a walked field, an illegal wire type); pdata also rejects things the walk
// does not look at (a malformed log record, say), which the normalizer then answers with 400.

// Reasons of MalformedError for protobuf bodies.
const (
	reasonTruncated   = "truncated field"
	reasonVarint      = "varint longer than 10 bytes"
	reasonFieldNumber = "field number 0 or out of range"
	reasonWireType    = "wrong wire type for a repeated message field"
	reasonIllegalWire = "illegal wire type"
	reasonEndGroup    = "end of group without a start"
	reasonNegativeLen = "negative length"
)

// protoErr is a walk error: its reason and the offset of the field at fault.
type protoErr struct {
	reason string
	off    int
}

// varint decodes a varint at b[pos:] as proto.ConsumeVarint does.
func varint(b []byte, pos int) (uint64, int, string) {
	if pos < len(b) && b[pos] < 0x80 {
		return uint64(b[pos]), pos + 1, ""
	}
	var x uint64
	for shift := uint(0); ; shift += 7 {
		if shift >= 64 {
			return 0, 0, reasonVarint
		}
		if pos >= len(b) {
			return 0, 0, reasonTruncated
		}
		c := b[pos]
		pos++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x, pos, ""
		}
	}
}

// tag decodes a field tag as proto.ConsumeTag does.
func tag(b []byte, pos int) (field int32, wire uint64, next int, reason string) {
	t, next, reason := varint(b, pos)
	if reason != "" {
		return 0, 0, 0, reason
	}
	field = int32(t >> 3)
	if field <= 0 {
		return 0, 0, 0, reasonFieldNumber
	}
	return field, t & 7, next, ""
}

// length decodes the length of a length-delimited field as proto.ConsumeLen does and returns
// the bounds of its payload.
func length(b []byte, pos int) (start, end int, reason string) {
	n, pos, reason := varint(b, pos)
	if reason != "" {
		return 0, 0, reason
	}
	l := int(n)
	if l < 0 {
		return 0, 0, reasonNegativeLen
	}
	end = pos + l
	if end < 0 || end > len(b) {
		return 0, 0, reasonTruncated
	}
	return pos, end, ""
}

// skip skips the payload of a field of wire type w at b[pos:] as proto.ConsumeUnknown does,
// including its handling of groups (a group ends at its end tag or at its first non-group
// field, whichever comes first, and a group's end tag must not be the last byte of b).
func skip(b []byte, pos int, w uint64) (int, string) {
	depth := 0
	for pos < len(b) {
		switch w {
		case otlpwire.WireVarint:
			_, next, reason := varint(b, pos)
			return next, reason
		case otlpwire.WireI64:
			if pos+8 > len(b) {
				return 0, reasonTruncated
			}
			return pos + 8, ""
		case otlpwire.WireLen:
			_, end, reason := length(b, pos)
			return end, reason
		case otlpwire.WireStartGroup:
			depth++
		case otlpwire.WireEndGroup:
			if depth == 0 {
				return 0, reasonEndGroup
			}
			depth--
		case otlpwire.WireI32:
			if pos+4 > len(b) {
				return 0, reasonTruncated
			}
			return pos + 4, ""
		default:
			return 0, reasonIllegalWire
		}
		if depth == 0 {
			return pos, ""
		}
		var reason string
		if _, w, pos, reason = tag(b, pos); reason != "" {
			return 0, reason
		}
	}
	return 0, reasonTruncated
}

// countRepeated counts the occurrences of the repeated message field f in message b (the
// walk's leaf level: log records, spans, data points) without looking inside them.
func countRepeated(b []byte, f int32) (int, *protoErr) {
	n := 0
	for pos := 0; pos < len(b); {
		at := pos
		field, w, next, reason := tag(b, pos)
		if reason != "" {
			return 0, &protoErr{reason, at}
		}
		if field == f {
			if w != otlpwire.WireLen {
				return 0, &protoErr{reasonWireType, at}
			}
			_, end, reason := length(b, next)
			if reason != "" {
				return 0, &protoErr{reason, at}
			}
			n++
			pos = end
			continue
		}
		if pos, reason = skip(b, next, w); reason != "" {
			return 0, &protoErr{reason, at}
		}
	}
	return n, nil
}

// walkRepeated calls count on the payload of every occurrence of the repeated message field f
// of message b and sums the results.
func walkRepeated(b []byte, f int32, count func([]byte) (int, *protoErr)) (int, *protoErr) {
	n := 0
	for pos := 0; pos < len(b); {
		at := pos
		field, w, next, reason := tag(b, pos)
		if reason != "" {
			return 0, &protoErr{reason, at}
		}
		if field == f {
			if w != otlpwire.WireLen {
				return 0, &protoErr{reasonWireType, at}
			}
			start, end, reason := length(b, next)
			if reason != "" {
				return 0, &protoErr{reason, at}
			}
			c, err := count(b[start:end])
			if err != nil {
				err.off += start
				return 0, err
			}
			n += c
			pos = end
			continue
		}
		if pos, reason = skip(b, next, w); reason != "" {
			return 0, &protoErr{reason, at}
		}
	}
	return n, nil
}

// walkResource counts the items of one Resource{Logs,Metrics,Spans} message: the sum of
// countScope over its scope_* entries (field scopes) or, when it has none, over its
// deprecated_scope_* entries (field deprecatedScopes).
func walkResource(b []byte, scopes, deprecatedScopes int32, countScope func([]byte) (int, *protoErr)) (int, *protoErr) {
	var n, nDeprecated, entries int
	for pos := 0; pos < len(b); {
		at := pos
		field, w, next, reason := tag(b, pos)
		if reason != "" {
			return 0, &protoErr{reason, at}
		}
		if field == scopes || field == deprecatedScopes {
			if w != otlpwire.WireLen {
				return 0, &protoErr{reasonWireType, at}
			}
			start, end, reason := length(b, next)
			if reason != "" {
				return 0, &protoErr{reason, at}
			}
			c, err := countScope(b[start:end])
			if err != nil {
				err.off += start
				return 0, err
			}
			if field == scopes {
				n += c
				entries++
			} else {
				nDeprecated += c
			}
			pos = end
			continue
		}
		if pos, reason = skip(b, next, w); reason != "" {
			return 0, &protoErr{reason, at}
		}
	}
	if entries == 0 {
		return nDeprecated, nil
	}
	return n, nil
}

// Logs.

func countLogsProto(b []byte) (int, *protoErr) {
	return walkRepeated(b, otlpwire.LogsRequestResourceLogs, resourceLogs)
}

func resourceLogs(b []byte) (int, *protoErr) {
	return walkResource(b, otlpwire.ResourceLogsScopeLogs, otlpwire.ResourceLogsDeprecatedScopeLogs, scopeLogs)
}

func scopeLogs(b []byte) (int, *protoErr) { return countRepeated(b, otlpwire.ScopeLogsLogRecords) }

// Traces.

func countTracesProto(b []byte) (int, *protoErr) {
	return walkRepeated(b, otlpwire.TracesRequestResourceSpans, resourceSpans)
}

func resourceSpans(b []byte) (int, *protoErr) {
	return walkResource(b, otlpwire.ResourceSpansScopeSpans, otlpwire.ResourceSpansDeprecatedScopeSpans, scopeSpans)
}

func scopeSpans(b []byte) (int, *protoErr) { return countRepeated(b, otlpwire.ScopeSpansSpans) }

// Metrics.

func countMetricsProto(b []byte) (int, *protoErr) {
	return walkRepeated(b, otlpwire.MetricsRequestResourceMetrics, resourceMetrics)
}

func resourceMetrics(b []byte) (int, *protoErr) {
	return walkResource(b, otlpwire.ResourceMetricsScopeMetrics, otlpwire.ResourceMetricsDeprecatedScopeMetrics, scopeMetrics)
}

func scopeMetrics(b []byte) (int, *protoErr) {
	return walkRepeated(b, otlpwire.ScopeMetricsMetrics, metric)
}

// metric counts the data points of a Metric: those of the last occurrence of its data oneof
// (pdata replaces the oneof on every occurrence). Every occurrence is walked, as pdata decodes
// every one.
func metric(b []byte) (int, *protoErr) {
	last := 0
	for pos := 0; pos < len(b); {
		at := pos
		field, w, next, reason := tag(b, pos)
		if reason != "" {
			return 0, &protoErr{reason, at}
		}
		var points int32 // the data_points field of the data type in field, or 0
		switch field {
		case otlpwire.MetricGauge:
			points = otlpwire.GaugeDataPoints
		case otlpwire.MetricSum:
			points = otlpwire.SumDataPoints
		case otlpwire.MetricHistogram:
			points = otlpwire.HistogramDataPoints
		case otlpwire.MetricExponentialHistogram:
			points = otlpwire.ExponentialHistogramDataPoints
		case otlpwire.MetricSummary:
			points = otlpwire.SummaryDataPoints
		}
		if points == 0 {
			if pos, reason = skip(b, next, w); reason != "" {
				return 0, &protoErr{reason, at}
			}
			continue
		}
		if w != otlpwire.WireLen {
			return 0, &protoErr{reasonWireType, at}
		}
		start, end, reason := length(b, next)
		if reason != "" {
			return 0, &protoErr{reason, at}
		}
		c, err := countRepeated(b[start:end], points)
		if err != nil {
			err.off += start
			return 0, err
		}
		last = c
		pos = end
	}
	return last, nil
}
