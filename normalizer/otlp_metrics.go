package normalizer

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/ingestdev/ingest/record"
)

// This file decodes OTLP metrics: one record per data point of every metric type (the mapping
// is on otlpFormat).

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
