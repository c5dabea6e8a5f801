package normalizer

import (
	"encoding/hex"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/ingestdev/ingest/record"
)

// otlpFormat is the encoding of an OTLP/HTTP request body: otlpProto (application/x-protobuf)
// or otlpJSON (application/json, the OTLP JSON mapping).
//
// # Mapping from OTLP to normalized records
//
// The three decoders (decodeOTLPLogs, decodeOTLPMetrics, decodeOTLPTraces) turn one
// ExportLogsServiceRequest, ExportMetricsServiceRequest or ExportTraceServiceRequest into one
// record per log record, metric data point or span.
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
//   - Timestamps are unix nanoseconds. A timestamp of 0 means the time of receipt; one beyond
//     math.MaxInt64 (the year 2262) is rejected with err-ingest-invalid-field; all others go
//     through the max_past / max_future checks.
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
//   - Timestamp: time_unix_nano; when 0, observed_time_unix_nano; when both are 0, the time of
//     receipt.
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

// decodeOTLPLogs decodes an OTLP logs request and emits one record per log record. It returns a
// *requestError when the body cannot be decoded (400) or holds more than
// max_events_per_request log records (413); then nothing has been emitted.
func decodeOTLPLogs(body []byte, f otlpFormat, e *emitter) error {
	if err := checkNesting(msgLogsRequest, body, f); err != nil {
		return err
	}
	req := plogotlp.NewExportRequest()
	if err := unmarshalOTLP(req, body, f); err != nil {
		return errMalformed("cannot decode OTLP logs %s: %v", f, err)
	}
	ld := req.Logs()
	if n := ld.LogRecordCount(); n > e.cfg.MaxEventsPerRequest {
		return errTooManyEvents(n, e.cfg.MaxEventsPerRequest)
	}
	c := otlpConverter{e: e}
	index := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		c.resArena = c.resArena[:0]
		c.res = c.appendAttrs(c.res[:0], rl.Resource().Attributes(), &c.resArena)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			c.scope = sl.Scope().Name()
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				c.logRecord(lrs.At(k), index)
				index++
			}
		}
	}
	return nil
}

// decodeOTLPMetrics decodes an OTLP metrics request and emits one record per data point. It
// returns a *requestError when the body cannot be decoded (400) or holds more than
// max_events_per_request data points (413); then nothing has been emitted.
func decodeOTLPMetrics(body []byte, f otlpFormat, e *emitter) error {
	if err := checkNesting(msgMetricsRequest, body, f); err != nil {
		return err
	}
	req := pmetricotlp.NewExportRequest()
	if err := unmarshalOTLP(req, body, f); err != nil {
		return errMalformed("cannot decode OTLP metrics %s: %v", f, err)
	}
	md := req.Metrics()
	if n := md.DataPointCount(); n > e.cfg.MaxEventsPerRequest {
		return errTooManyEvents(n, e.cfg.MaxEventsPerRequest)
	}
	c := otlpConverter{e: e}
	index := 0
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		c.resArena = c.resArena[:0]
		c.res = c.appendAttrs(c.res[:0], rm.Resource().Attributes(), &c.resArena)
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			c.scope = sm.Scope().Name()
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				index = c.metric(ms.At(k), index)
			}
		}
	}
	return nil
}

// decodeOTLPTraces decodes an OTLP traces request and emits one record per span. It returns a
// *requestError when the body cannot be decoded (400) or holds more than
// max_events_per_request spans (413); then nothing has been emitted.
func decodeOTLPTraces(body []byte, f otlpFormat, e *emitter) error {
	if err := checkNesting(msgTracesRequest, body, f); err != nil {
		return err
	}
	req := ptraceotlp.NewExportRequest()
	if err := unmarshalOTLP(req, body, f); err != nil {
		return errMalformed("cannot decode OTLP traces %s: %v", f, err)
	}
	td := req.Traces()
	if n := td.SpanCount(); n > e.cfg.MaxEventsPerRequest {
		return errTooManyEvents(n, e.cfg.MaxEventsPerRequest)
	}
	c := otlpConverter{e: e}
	index := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		c.resArena = c.resArena[:0]
		c.res = c.appendAttrs(c.res[:0], rs.Resource().Attributes(), &c.resArena)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			c.scope = ss.Scope().Name()
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				c.span(spans.At(k), index)
				index++
			}
		}
	}
	return nil
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
	if uint64(ts) > math.MaxInt64 {
		c.e.reject(index, 0, ReasonInvalidField, "%s %d is beyond the year 2262; send unix nanoseconds", field, uint64(ts))
		return 0, false
	}
	return int64(ts), true
}

func (c *otlpConverter) logRecord(lr plog.LogRecord, index int) {
	r := c.newRecord(record.SignalLog)
	field, ts := "time_unix_nano", lr.Timestamp()
	if ts == 0 {
		field, ts = "observed_time_unix_nano", lr.ObservedTimestamp()
	}
	var ok bool
	if r.Timestamp, ok = c.timestamp(ts, field, index); !ok {
		return
	}
	sev := lr.SeverityNumber()
	if sev < 0 || sev > 24 {
		c.e.reject(index, 0, ReasonInvalidField, "severity_number %d is outside 0..24", int32(sev))
		return
	}
	r.Name = lr.EventName()
	r.SeverityNumber = uint8(sev)
	r.SeverityText = lr.SeverityText()
	r.Body = c.render(lr.Body(), &c.arena)
	if tid := lr.TraceID(); !tid.IsEmpty() {
		r.HasTrace = true
		r.TraceID = tid
		r.SpanID = lr.SpanID()
	}
	c.attrs = c.appendAttrs(c.attrs, lr.Attributes(), &c.arena)
	r.Attributes = c.attrs
	c.e.emit(r, index, 0)
}

// metric emits the data points of m, the first one at index, and returns the index after the
// last.
func (c *otlpConverter) metric(m pmetric.Metric, index int) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			c.numberPoint(m, dps.At(i), record.MetricGauge, pmetric.AggregationTemporalityUnspecified, false, index)
			index++
		}
	case pmetric.MetricTypeSum:
		s := m.Sum()
		dps := s.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			c.numberPoint(m, dps.At(i), record.MetricSum, s.AggregationTemporality(), s.IsMonotonic(), index)
			index++
		}
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			c.histogramPoint(m, dps.At(i), h.AggregationTemporality(), index)
			index++
		}
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			c.expHistogramPoint(m, dps.At(i), h.AggregationTemporality(), index)
			index++
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			c.summaryPoint(m, dps.At(i), index)
			index++
		}
	}
	return index
}

// metricRecord fills the fields common to every data point of m (a point's timestamp ts and
// attributes attrs are passed apart, which avoids an interface and its allocation) and returns
// the record and the unit factor, or false when the point was rejected.
func (c *otlpConverter) metricRecord(m pmetric.Metric, ts pcommon.Timestamp, attrs pcommon.Map, kind record.MetricKind, t pmetric.AggregationTemporality, index int) (*record.Record, float64, bool) {
	r := c.newRecord(record.SignalMetric)
	r.Name = m.Name()
	if r.Name == "" {
		c.e.reject(index, 0, ReasonMissingField, "metric has no name")
		return nil, 0, false
	}
	if t < 0 || t > 2 {
		c.e.reject(index, 0, ReasonInvalidField, "metric %q: aggregation_temporality %d is not 0, 1 or 2", r.Name, int32(t))
		return nil, 0, false
	}
	var ok bool
	if r.Timestamp, ok = c.timestamp(ts, "time_unix_nano", index); !ok {
		return nil, 0, false
	}
	r.MetricKind = kind
	r.Temporality = record.Temporality(t)
	var factor float64
	factor, r.Unit = c.e.convert(1, m.Unit())
	c.attrs = c.appendAttrs(c.attrs, attrs, &c.arena)
	r.Attributes = c.attrs
	return r, factor, true
}

func (c *otlpConverter) numberPoint(m pmetric.Metric, dp pmetric.NumberDataPoint, kind record.MetricKind, t pmetric.AggregationTemporality, monotonic bool, index int) {
	r, factor, ok := c.metricRecord(m, dp.Timestamp(), dp.Attributes(), kind, t, index)
	if !ok {
		return
	}
	r.Monotonic = monotonic
	switch {
	case dp.Flags().NoRecordedValue():
		r.Value = math.Float64frombits(staleNaNBits)
	case dp.ValueType() == pmetric.NumberDataPointValueTypeDouble:
		r.Value = dp.DoubleValue() * factor
	case dp.ValueType() == pmetric.NumberDataPointValueTypeInt:
		r.Value = float64(dp.IntValue()) * factor
	default:
		c.e.reject(index, 0, ReasonMissingField, "metric %q: data point has neither as_double nor as_int", r.Name)
		return
	}
	c.e.emit(r, index, 0)
}

func (c *otlpConverter) histogramPoint(m pmetric.Metric, dp pmetric.HistogramDataPoint, t pmetric.AggregationTemporality, index int) {
	r, factor, ok := c.metricRecord(m, dp.Timestamp(), dp.Attributes(), record.MetricHistogram, t, index)
	if !ok {
		return
	}
	if dp.Flags().NoRecordedValue() {
		r.Value = math.Float64frombits(staleNaNBits)
		c.e.emit(r, index, 0)
		return
	}
	counts, bounds := dp.BucketCounts(), dp.ExplicitBounds()
	if counts.Len() != bounds.Len()+1 && (counts.Len() != 0 || bounds.Len() != 0) {
		c.e.reject(index, 0, ReasonInvalidField, "metric %q: histogram has %d bucket_counts for %d explicit_bounds; want one more count than bounds",
			r.Name, counts.Len(), bounds.Len())
		return
	}
	if counts.Len() > maxOTLPBuckets {
		c.e.reject(index, 0, ReasonInvalidField, "metric %q: histogram has %d buckets, more than the limit of %d", r.Name, counts.Len(), maxOTLPBuckets)
		return
	}
	c.buckets = c.buckets[:0]
	for i := 0; i < bounds.Len(); i++ {
		b := bounds.At(i)
		if math.IsInf(b, 0) || math.IsNaN(b) || (i > 0 && !(b > bounds.At(i-1))) {
			c.e.reject(index, 0, ReasonInvalidField, "metric %q: explicit_bounds[%d] = %g is not finite and above the bound before it", r.Name, i, b)
			return
		}
		c.buckets = append(c.buckets, record.Bucket{UpperBound: b * factor, Count: counts.At(i)})
	}
	if counts.Len() > 0 {
		c.buckets = append(c.buckets, record.Bucket{UpperBound: math.Inf(1), Count: counts.At(counts.Len() - 1)})
	}
	c.distribution(r, dp.Count(), dp.HasSum(), dp.Sum(), dp.HasMin() && dp.HasMax(), dp.Min(), dp.Max(), factor)
	r.Buckets = c.buckets
	c.e.emit(r, index, 0)
}

// distribution sets the count, sum and min/max of a histogram record.
func (c *otlpConverter) distribution(r *record.Record, count uint64, hasSum bool, sum float64, hasMinMax bool, min, max, factor float64) {
	r.HasDistribution = true
	r.Count = count
	if hasSum {
		r.Sum = sum * factor
	}
	if hasMinMax {
		r.HasMinMax = true
		r.Min = min * factor
		r.Max = max * factor
	}
}

func (c *otlpConverter) expHistogramPoint(m pmetric.Metric, dp pmetric.ExponentialHistogramDataPoint, t pmetric.AggregationTemporality, index int) {
	r, factor, ok := c.metricRecord(m, dp.Timestamp(), dp.Attributes(), record.MetricExponentialHistogram, t, index)
	if !ok {
		return
	}
	if dp.Flags().NoRecordedValue() {
		r.Value = math.Float64frombits(staleNaNBits)
		c.e.emit(r, index, 0)
		return
	}
	scale, zt := dp.Scale(), dp.ZeroThreshold()
	if scale < -10 || scale > 20 {
		c.e.reject(index, 0, ReasonInvalidField, "metric %q: exponential histogram scale %d is outside -10..20", r.Name, scale)
		return
	}
	if !(zt >= 0) || math.IsInf(zt, 0) {
		c.e.reject(index, 0, ReasonInvalidField, "metric %q: exponential histogram zero_threshold %g is not a finite number ≥ 0", r.Name, zt)
		return
	}
	neg, pos := dp.Negative(), dp.Positive()
	negCounts, posCounts := neg.BucketCounts(), pos.BucketCounts()
	withZero := dp.ZeroCount() > 0 || (negCounts.Len() > 0 && posCounts.Len() > 0)
	if n := negCounts.Len() + posCounts.Len() + b2i(withZero); n > maxOTLPBuckets {
		c.e.reject(index, 0, ReasonInvalidField, "metric %q: exponential histogram has %d buckets, more than the limit of %d", r.Name, n, maxOTLPBuckets)
		return
	}
	// bound returns base^i with base = 2^(2^-scale); the exponent i·2^-scale is exact.
	bound := func(i int64) float64 { return math.Exp2(math.Ldexp(float64(i), -int(scale))) }
	c.buckets = c.buckets[:0]
	for i := negCounts.Len() - 1; i >= 0; i-- {
		c.buckets = append(c.buckets, record.Bucket{UpperBound: -bound(int64(neg.Offset())+int64(i)) * factor, Count: negCounts.At(i)})
	}
	if withZero {
		c.buckets = append(c.buckets, record.Bucket{UpperBound: zt * factor, Count: dp.ZeroCount()})
	}
	for i := 0; i < posCounts.Len(); i++ {
		c.buckets = append(c.buckets, record.Bucket{UpperBound: bound(int64(pos.Offset())+int64(i)+1) * factor, Count: posCounts.At(i)})
	}
	for i, b := range c.buckets {
		last := i == len(c.buckets)-1
		if math.IsNaN(b.UpperBound) || math.IsInf(b.UpperBound, -1) || (math.IsInf(b.UpperBound, 1) && !last) ||
			(i > 0 && !(b.UpperBound > c.buckets[i-1].UpperBound)) {
			c.e.reject(index, 0, ReasonInvalidField, "metric %q: exponential histogram buckets (scale %d, offsets %d and %d, zero_threshold %g) do not map to increasing float64 bounds",
				r.Name, scale, neg.Offset(), pos.Offset(), zt)
			return
		}
	}
	c.distribution(r, dp.Count(), dp.HasSum(), dp.Sum(), dp.HasMin() && dp.HasMax(), dp.Min(), dp.Max(), factor)
	r.Buckets = c.buckets
	c.e.emit(r, index, 0)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *otlpConverter) summaryPoint(m pmetric.Metric, dp pmetric.SummaryDataPoint, index int) {
	r, factor, ok := c.metricRecord(m, dp.Timestamp(), dp.Attributes(), record.MetricSummary, pmetric.AggregationTemporalityUnspecified, index)
	if !ok {
		return
	}
	if dp.Flags().NoRecordedValue() {
		r.Value = math.Float64frombits(staleNaNBits)
		c.e.emit(r, index, 0)
		return
	}
	qs := dp.QuantileValues()
	if qs.Len() > maxOTLPBuckets {
		c.e.reject(index, 0, ReasonInvalidField, "metric %q: summary has %d quantiles, more than the limit of %d", r.Name, qs.Len(), maxOTLPBuckets)
		return
	}
	c.quantiles = c.quantiles[:0]
	for i := 0; i < qs.Len(); i++ {
		q := qs.At(i)
		if !(q.Quantile() >= 0 && q.Quantile() <= 1) {
			c.e.reject(index, 0, ReasonInvalidField, "metric %q: quantile %g is outside 0..1", r.Name, q.Quantile())
			return
		}
		c.quantiles = append(c.quantiles, record.Quantile{Quantile: q.Quantile(), Value: q.Value() * factor})
	}
	r.HasDistribution = true
	r.Count = dp.Count()
	r.Sum = dp.Sum() * factor
	r.Quantiles = c.quantiles
	c.e.emit(r, index, 0)
}

func (c *otlpConverter) span(s ptrace.Span, index int) {
	r := c.newRecord(record.SignalSpan)
	r.Name = s.Name()
	tid, sid := s.TraceID(), s.SpanID()
	if tid.IsEmpty() || sid.IsEmpty() {
		c.e.reject(index, 0, ReasonInvalidField, "span %q: trace_id %q and span_id %q must both be set and not all zeros", r.Name, tid, sid)
		return
	}
	start, end := s.StartTimestamp(), s.EndTimestamp()
	if start == 0 {
		c.e.reject(index, 0, ReasonMissingField, "span %q has no start_time_unix_nano", r.Name)
		return
	}
	if end < start {
		c.e.reject(index, 0, ReasonInvalidField, "span %q: end_time_unix_nano %d is before start_time_unix_nano %d", r.Name, uint64(end), uint64(start))
		return
	}
	var ok bool
	if r.Timestamp, ok = c.timestamp(start, "start_time_unix_nano", index); !ok {
		return
	}
	if d := uint64(end - start); d > math.MaxInt64 {
		c.e.reject(index, 0, ReasonInvalidField, "span %q: duration of %d ns is beyond the int64 range", r.Name, d)
		return
	}
	kind, code := s.Kind(), s.Status().Code()
	if kind < 0 || kind > 5 {
		c.e.reject(index, 0, ReasonInvalidField, "span %q: kind %d is outside 0..5", r.Name, int32(kind))
		return
	}
	if code < 0 || code > 2 {
		c.e.reject(index, 0, ReasonInvalidField, "span %q: status code %d is outside 0..2", r.Name, int32(code))
		return
	}
	r.Duration = int64(end - start)
	r.HasTrace = true
	r.TraceID = tid
	r.SpanID = sid
	r.ParentSpanID = s.ParentSpanID()
	r.SpanKind = uint8(kind)
	r.StatusCode = uint8(code)
	r.StatusMessage = s.Status().Message()
	c.attrs = c.appendAttrs(c.attrs, s.Attributes(), &c.arena)
	if evs := s.Events(); evs.Len() > 0 {
		start := len(c.arena)
		b := append(c.arena, '[')
		for i := 0; i < evs.Len(); i++ {
			ev := evs.At(i)
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, ev.Name())
			b = append(b, `,"time_unix_nano":`...)
			b = strconv.AppendUint(b, uint64(ev.Timestamp()), 10)
			b = append(b, `,"attributes":`...)
			b = c.appendJSONMap(b, ev.Attributes())
			b = append(b, '}')
		}
		c.arena = append(b, ']')
		c.attrs = append(c.attrs, record.KV{Key: "otel.span.events", Value: aliasString(c.arena[start:])})
	}
	if links := s.Links(); links.Len() > 0 {
		start := len(c.arena)
		b := append(c.arena, '[')
		for i := 0; i < links.Len(); i++ {
			l := links.At(i)
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"trace_id":"`...)
			if id := l.TraceID(); !id.IsEmpty() {
				b = hex.AppendEncode(b, id[:])
			}
			b = append(b, `","span_id":"`...)
			if id := l.SpanID(); !id.IsEmpty() {
				b = hex.AppendEncode(b, id[:])
			}
			b = append(b, `","attributes":`...)
			b = c.appendJSONMap(b, l.Attributes())
			b = append(b, '}')
		}
		c.arena = append(b, ']')
		c.attrs = append(c.attrs, record.KV{Key: "otel.span.links", Value: aliasString(c.arena[start:])})
	}
	r.Attributes = c.attrs
	c.e.emit(r, index, 0)
}
