package normalizer

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/ingestdev/ingest/record"
)

// otlpFormat is the encoding of an OTLP/HTTP request body: otlpProto (application/x-protobuf)
// or otlpJSON (application/json, the OTLP JSON mapping).
//
// # Mapping from OTLP to normalized records
//
// The three decoders (decodeOTLPLogs, decodeOTLPMetrics, decodeOTLPTraces, one file each:
// otlp_logs.go, otlp_metrics.go, otlp_traces.go) turn one ExportLogsServiceRequest,
// ExportMetricsServiceRequest or ExportTraceServiceRequest into one record per log record,
// metric data point or span. Before a body is decoded, the nesting guard (otlp_depth.go)
// refuses one nested too deep; attribute values are rendered by otlp_render.go.
//
// Protobuf logs are decoded in place (otlp_logs_wire.go): read straight from the wire, strings
// aliasing the body, nothing allocated per log record, with exactly the outcome of pdata, whose
// decoder (decodeOTLPLogsPdata) stays as the oracle of the parity tests
// (FuzzOTLPLogsWireParity); the wire rules that parity takes from pdata (last scalar wins,
// repeated message fields merged, the deprecated scope list, id lengths) are listed there. A
// protobuf logs body that does not decode falls back to pdata whole, for pdata's description of
// the fault. The in-place decoder also bounds the nesting itself, as the guard counts it, since
// the guard does not follow every path pdata does (see wireTooDeep). OTLP JSON, metrics and
// traces are decoded by pdata (plogotlp, pmetricotlp, ptraceotlp) and converted from its tree.
//
// Request level. A body that does not unmarshal is refused whole with 400
// (err-ingest-malformed-request). A request holding more log records, data points or spans than
// max_events_per_request is refused whole with 413 (err-ingest-too-many-events) before any
// event is converted. Otherwise every event is either accepted or rejected on its own: a
// rejection carries the event's index, its 0-based position in the request counted over all
// resources and scopes in order (for metrics, every data point of every metric counts once).
//
// Common to all signals:
//   - Resource: the resource attributes, in the order sent. The resource's schema URL and
//     dropped-attributes count are not kept.
//   - Scope: the instrumentation scope's name. Its version, attributes and schema URL are not kept.
//   - Attributes: the item's attributes, in the order sent; a key sent twice is kept twice.
//     Dropped-attributes counts are not kept. Both lists are checked against max_attributes,
//     max_attribute_key_bytes and max_attribute_value_bytes like every other event's.
//   - Timestamps are unix nanoseconds. An item without a time (0) is rejected with
//     err-ingest-missing-field, not stamped with the time of receipt: that time differs on
//     every retry of the request, and the time is part of the derived event id and of the
//     tables' sort key, so a retried request would be stored twice. One beyond math.MaxInt64
//     (the year 2262) is rejected with err-ingest-invalid-field; all others go through the
//     max_past / max_future checks.
//
// Attribute values (and non-string log bodies) are rendered as strings by the rules the NDJSON
// decoder applies to the JSON values of its attributes (ndjsonDecoder.render), so that the same
// value sent either way is stored the same:
//   - string: as is.
//   - int: decimal (strconv.FormatInt(v, 10)).
//   - double: a whole number of magnitude below 2^53 as a decimal integer (2.0 → "2", -0.0 →
//     "0"), any other value as strconv.FormatFloat(v, 'g', -1, 64) ("2.5", "1e+21", "NaN",
//     "+Inf", "-Inf").
//   - bool: "true" or "false".
//   - bytes: standard base64 with padding (encoding/base64.StdEncoding); no bytes give "".
//   - empty (no value set): "".
//   - array and map (kvlist): compact JSON without whitespace, entries in the order sent (a key
//     sent twice appears twice, as the NDJSON decoder keeps keys as given). Inside it: strings
//     escaped minimally (\" \\ \b \f \n \r \t, other control characters as \u00XX, invalid
//     UTF-8 as \ufffd, everything else literal); ints decimal; doubles as above, except that
//     NaN, +Inf and -Inf, which JSON cannot carry, are the strings "NaN", "+Inf" and "-Inf";
//     bools true/false; bytes as a base64 string; empty values as null.
//
// Logs (Signal log):
//   - Timestamp: time_unix_nano; when 0, observed_time_unix_nano (set by the first collector
//     that saw the record, so a retry carries the same one); when both are 0, the record is
//     rejected with err-ingest-missing-field.
//   - Name: event_name ("" when not set).
//   - SeverityNumber, SeverityText: as sent; a severity number outside 0..24 is rejected with
//     err-ingest-invalid-field.
//   - Body: a string body as is; any other body rendered like an attribute value; no body "".
//   - TraceID, SpanID and HasTrace: set when the trace id is not all zeros (the span id may then
//     be zero). ParentSpanID stays zero. Flags are not kept.
//
// Metrics (Signal metric), one record per data point:
//   - Name: the metric name (an empty name is rejected with err-ingest-missing-field). The
//     description and metadata are not kept.
//   - Unit: the metric unit converted through the one unit table (units.go): every value-like
//     field (Value, Sum, Min, Max, bucket upper bounds, quantile values) is multiplied by the
//     unit's factor and Unit names the canonical unit. Units outside the table pass through
//     unchanged and are counted once per data point. Counts and quantiles (0..1) never scale.
//   - Timestamp: the data point's time_unix_nano. start_time_unix_nano is not kept.
//   - Attributes: the data point's attributes. Exemplars are not kept in v1.
//   - Gauge: MetricGauge; Value is as_double, or as_int converted to float64. A point with
//     neither is rejected with err-ingest-missing-field.
//   - Sum: MetricSum, with Monotonic (is_monotonic) and Temporality (aggregation_temporality,
//     numbered as in OTLP; other values are rejected with err-ingest-invalid-field).
//   - Histogram: MetricHistogram with HasDistribution, Count, Sum (0 when the point has no sum),
//     Min and Max with HasMinMax when both are present, Temporality, and Buckets: bucket i has
//     upper bound explicit_bounds[i] and count bucket_counts[i]; the last bucket has upper bound
//     +Inf. A point must have len(bucket_counts) == len(explicit_bounds)+1 (or neither) and
//     finite, strictly increasing bounds, else it is rejected with err-ingest-invalid-field.
//   - Exponential histogram: MetricExponentialHistogram, converted to explicit Buckets (plus
//     Count, Sum, Min/Max and Temporality as for histograms). With base = 2^(2^-scale):
//     negative bucket i covers [-base^(i+1), -base^i) and gets upper bound -base^i, emitted from
//     the most negative bucket to the least; then the zero bucket, upper bound zero_threshold
//     and count zero_count, emitted when zero_count > 0 or when there are both negative and
//     positive buckets (so that no bucket spans zero); then positive bucket i, covering
//     (base^i, base^(i+1)], upper bound base^(i+1). Buckets are emitted as sent, including
//     those with count 0. The scale must be within -10..20 and zero_threshold finite and not
//     negative; a point whose upper bounds are not strictly increasing after conversion
//     (bounds beyond the float64 range) is rejected with err-ingest-invalid-field, except that
//     the last bound may overflow to +Inf.
//   - Summary: MetricSummary with HasDistribution, Count, Sum and Quantiles (quantile as sent,
//     which must be within 0..1; value converted).
//   - A distribution may hold at most maxOTLPBuckets buckets or quantiles; a point with more is
//     rejected with err-ingest-invalid-field.
//   - A data point flagged no_recorded_value (a staleness marker) is still emitted: Value is
//     the staleness NaN (bits 0x7ff0000000000002, the one Prometheus uses) and a distribution
//     carries no Count, Sum, Buckets or Quantiles (HasDistribution false).
//   - A metric with no data (type not set) yields no records.
//
// Traces (Signal span):
//   - Name: the span name. Timestamp: start_time_unix_nano (0 is rejected with
//     err-ingest-missing-field). Duration: end_time_unix_nano - start_time_unix_nano; an end
//     before the start is rejected with err-ingest-invalid-field.
//   - TraceID, SpanID, ParentSpanID (zero for a root span), HasTrace true. A trace or span id
//     that is missing or all zeros is rejected with err-ingest-invalid-field.
//   - SpanKind and StatusCode numbered as in OTLP (values outside 0..5 and 0..2 are rejected
//     with err-ingest-invalid-field); StatusMessage as sent. Trace state and flags are not kept.
//   - Span events and links are kept as two attributes appended after the span's own, each
//     present only when the span has events or links, and counting against the attribute
//     limits like any other attribute:
//     "otel.span.events" = [{"name":…,"time_unix_nano":…,"attributes":{…}},…] and
//     "otel.span.links" = [{"trace_id":"<32 hex>","span_id":"<16 hex>","attributes":{…}},…],
//     compact JSON in the order sent; time_unix_nano is a JSON integer (parse it as 64-bit);
//     ids are lower-case hex, "" when all zeros; "attributes" is rendered like a map attribute
//     value ({} when there are none).
type otlpFormat int

const (
	otlpProto otlpFormat = iota
	otlpJSON
)

// String returns "protobuf" or "JSON", for messages.
func (f otlpFormat) String() string {
	if f == otlpJSON {
		return "JSON"
	}
	return "protobuf"
}

// maxOTLPBuckets bounds the buckets (explicit, or exponential after conversion) and the
// quantiles of one data point, so that no record can approach record.MaxRecordSize. Real
// exponential histograms hold at most 160 buckets per sign by default.
const maxOTLPBuckets = 4096

// staleNaNBits is the bit pattern of the NaN that marks a data point flagged no_recorded_value
// (the one Prometheus uses for staleness markers).
const staleNaNBits = 0x7ff0000000000002

// otlpUnmarshaler is what the three pdata ExportRequest types have in common.
type otlpUnmarshaler interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

func unmarshalOTLP(req otlpUnmarshaler, body []byte, f otlpFormat) error {
	if f == otlpJSON {
		return req.UnmarshalJSON(body)
	}
	return req.UnmarshalProto(body)
}

// otlpConverter converts the items of one OTLP request. Its slices are scratch space reused
// from item to item: emit encodes a record before returning, so nothing outlives the item.
// Rendered attribute values that are not strings pdata already holds are written into an
// arena and aliased (aliasString), so converting an item allocates nothing once the scratch
// space has grown.
type otlpConverter struct {
	e     *emitter
	r     record.Record
	res   []record.KV // attributes of the current resource
	scope string      // name of the current scope

	attrs     []record.KV
	buckets   []record.Bucket
	quantiles []record.Quantile
	arena     []byte // values rendered for the current item; reset by newRecord
	resArena  []byte // values rendered for the current resource's attributes
}

// newRecord resets c.r for one item of signal s and returns it.
func (c *otlpConverter) newRecord(s record.Signal) *record.Record {
	c.r = record.Record{Signal: s, Scope: c.scope, Resource: c.res}
	c.attrs = c.attrs[:0]
	c.arena = c.arena[:0]
	return &c.r
}

// timestamp converts an OTLP timestamp to unix ns, rejecting one beyond the int64 range.
func (c *otlpConverter) timestamp(ts pcommon.Timestamp, field string, index int) (int64, bool) {
	if ts == 0 {
		// Not the time of receipt: that differs on every retry of the request, and the time is
		// part of the event's id and of the tables' sort key, so a retry would be stored twice.
		c.e.reject(index, 0, ReasonMissingField, "%s is 0; set the event's time (the time of receipt would make every retry of the request a new event)", field)
		return 0, false
	}
	if uint64(ts) > math.MaxInt64 {
		c.e.reject(index, 0, ReasonInvalidField, "%s %d is beyond the year 2262; send unix nanoseconds", field, uint64(ts))
		return 0, false
	}
	return int64(ts), true
}
