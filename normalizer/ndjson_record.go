package normalizer

import (
	"encoding/hex"
	"math"
	"strconv"
	"time"

	"github.com/valyala/fastjson"
	"github.com/valyala/fastjson/fastfloat"

	"github.com/ingestdev/ingest/record"
)

// This file builds a record from the fields of one line (ndjson_fields.go): the event type,
// then the fields of each signal, through the grammars of times, durations and severities
// (grammar_*.go) and the unit table (units.go).

// build fills r from the fields of the current line. It rejects the event and returns false at
// the first problem.
func (d *ndjsonDecoder) build(r *record.Record) bool {
	typ, ok := d.str(fType)
	if !ok {
		return false
	}
	switch typ {
	case "log":
		r.Signal = record.SignalLog
	case "metric":
		r.Signal = record.SignalMetric
	case "span":
		r.Signal = record.SignalSpan
	case "":
		d.missing(fType, "every event")
		return false
	default:
		d.invalid(fType, "%.64q is not an event type; send \"log\", \"metric\" or \"span\"", typ)
		return false
	}
	if d.field(fTS) == nil {
		// Not the time of receipt: that differs on every retry of the request, and the time is
		// part of the derived event id and of the tables' sort key, so a retry would be stored
		// twice (docs/native-schema.md, "Timestamps and retries").
		d.e.reject(d.index, d.line, ReasonMissingField,
			"missing field \"ts\" (required for every event: a time of receipt would make every retry of the request a new event); add the event's time")
		return false
	}
	if !d.timestamp(r) {
		return false
	}
	if r.Name, ok = d.str(fName); !ok {
		return false
	}
	if r.Name == "" && r.Signal != record.SignalLog {
		d.missing(fName, r.Signal.String()+" events")
		return false
	}
	switch r.Signal {
	case record.SignalLog:
		ok = d.log(r)
	case record.SignalMetric:
		ok = d.metric(r)
	case record.SignalSpan:
		ok = d.span(r)
	}
	if !ok {
		return false
	}
	if r.Attributes, ok = d.kvs(fAttributes, r.Attributes); !ok {
		return false
	}
	if r.Resource, ok = d.kvs(fResource, r.Resource); !ok {
		return false
	}
	if d.field(fEventID) != nil {
		id, ok := d.str(fEventID)
		if !ok {
			return false
		}
		if id == "" {
			d.invalid(fEventID, "is empty; send a non-empty id or leave the field out to have one derived")
			return false
		}
		r.EventID = record.IDFromString(d.tenant, id)
	}
	return true
}

// timestamp sets r.Timestamp from ts (present) and ts_unit, by the time grammar
// (grammar_time.go).
func (d *ndjsonDecoder) timestamp(r *record.Record) bool {
	ts := d.field(fTS)
	switch ts.Type() {
	case fastjson.TypeString:
		s := ts.str()
		ns, err := parseRFC3339(s)
		switch err {
		case errNotRFC3339:
			d.invalid(fTS, "%.64q is not an RFC 3339 time; send e.g. \"2026-11-21T11:59:30.5Z\" or a unix number with \"ts_unit\"", s)
			return false
		case errTimeRange:
			d.invalid(fTS, "%s is outside the supported range %s to %s; check the value",
				s, minNativeTime.Format(time.RFC3339Nano), maxNativeTime.Format(time.RFC3339Nano))
			return false
		}
		r.Timestamp = ns
		return true
	case fastjson.TypeNumber:
		if d.field(fTSUnit) == nil {
			d.invalid(fTS, "is a number without \"ts_unit\"; add \"ts_unit\": \"s\", \"ms\", \"us\" or \"ns\", or send an RFC 3339 string")
			return false
		}
		unit, ok := d.str(fTSUnit)
		if !ok {
			return false
		}
		scale, ok := timestampScale(unit)
		if !ok {
			d.invalid(fTSUnit, "%.32q is not a timestamp unit; send \"s\", \"ms\", \"us\" or \"ns\"", unit)
			return false
		}
		raw, ok := d.number(fTS)
		if !ok {
			return false
		}
		ns, err := parseUnixTime(raw, scale)
		switch err {
		case errFractionalNanos:
			d.invalid(fTS, "%s has a fraction, but ts_unit \"ns\" takes whole nanoseconds; send an integer or a coarser ts_unit", raw)
			return false
		case errTimeRange:
			d.invalid(fTS, "%s %s is outside the supported range %s to %s; check the value and ts_unit",
				raw, unit, minNativeTime.Format(time.RFC3339Nano), maxNativeTime.Format(time.RFC3339Nano))
			return false
		}
		r.Timestamp = ns
		return true
	default:
		d.wrongType(fTS, "an RFC 3339 string or a number with \"ts_unit\"")
		return false
	}
}

// log fills the log part of r.
func (d *ndjsonDecoder) log(r *record.Record) bool {
	if v := d.field(fBody); v != nil {
		body, ok := d.render(v)
		if !ok {
			d.notJSON(fBody, "")
			return false
		}
		r.Body = body
	}
	if v := d.field(fSeverity); v != nil {
		switch v.Type() {
		case fastjson.TypeString:
			text := v.str()
			n, ok := parseSeverityText(text)
			if !ok {
				d.invalid(fSeverity, "%.32q is not a severity; send trace, debug, info, warn, error or fatal (any case, optionally followed by 2, 3 or 4), or a number 1..24", text)
				return false
			}
			r.SeverityNumber, r.SeverityText = n, text
		case fastjson.TypeNumber:
			raw, ok := d.number(fSeverity)
			if !ok {
				return false
			}
			n, ok := parseSeverityNumber(raw)
			if !ok {
				d.invalid(fSeverity, "%.32s is not a severity number; send an integer 1..24 or a name such as \"info\"", raw)
				return false
			}
			r.SeverityNumber = n
		default:
			d.wrongType(fSeverity, "a string such as \"info\" or a number 1..24")
			return false
		}
	}
	if d.field(fTraceID) != nil {
		r.HasTrace = true
		if !d.hexID(fTraceID, r.TraceID[:]) {
			return false
		}
		if d.field(fSpanID) != nil && !d.hexID(fSpanID, r.SpanID[:]) {
			return false
		}
	} else if d.field(fSpanID) != nil {
		d.missing(fTraceID, "logs that carry a span_id")
		return false
	}
	return true
}

// metric fills the metric part of r.
func (d *ndjsonDecoder) metric(r *record.Record) bool {
	v := d.field(fValue)
	if v == nil {
		d.missing(fValue, "metric events")
		return false
	}
	if v.Type() != fastjson.TypeNumber {
		d.wrongType(fValue, "a number")
		return false
	}
	raw, ok := d.number(fValue)
	if !ok {
		return false
	}
	value, err := fastfloat.Parse(raw)
	if err != nil || math.IsInf(value, 0) {
		d.invalid(fValue, "%.64s is out of the float64 range; send a smaller number or a larger unit", raw)
		return false
	}
	unit, ok := d.str(fUnit)
	if !ok {
		return false
	}
	r.Value, r.Unit = d.e.convert(value, unit)
	if math.IsInf(r.Value, 0) {
		d.invalid(fValue, "%.64s %s is out of the float64 range in %s; send a smaller number", raw, unit, r.Unit)
		return false
	}
	kind, ok := d.str(fKind)
	if !ok {
		return false
	}
	switch kind {
	case "", "gauge":
		r.MetricKind = record.MetricGauge
	case "sum":
		r.MetricKind, r.Temporality = record.MetricSum, record.TemporalityCumulative
	case "counter":
		r.MetricKind, r.Temporality, r.Monotonic = record.MetricSum, record.TemporalityCumulative, true
	default:
		d.invalid(fKind, "%.32q is not a metric kind; send \"gauge\", \"sum\" or \"counter\"", kind)
		return false
	}
	return true
}

// span fills the span part of r.
func (d *ndjsonDecoder) span(r *record.Record) bool {
	r.HasTrace = true
	for _, i := range [...]int{fTraceID, fSpanID} {
		if d.field(i) == nil {
			d.missing(i, "span events")
			return false
		}
	}
	if !d.hexID(fTraceID, r.TraceID[:]) || !d.hexID(fSpanID, r.SpanID[:]) {
		return false
	}
	if d.field(fParentSpanID) != nil && !d.hexID(fParentSpanID, r.ParentSpanID[:]) {
		return false
	}
	if v := d.field(fDuration); v != nil {
		ns, ok := d.duration(v)
		if !ok {
			return false
		}
		r.Duration = ns
	}
	return true
}

// duration parses a span duration by the duration grammar (grammar_duration.go): a number of
// nanoseconds, or a string of a number and a duration unit of the unit table ("150ms", "1.5 s",
// "2min").
func (d *ndjsonDecoder) duration(v *jsonValue) (int64, bool) {
	var ns float64
	switch v.Type() {
	case fastjson.TypeNumber:
		raw, ok := d.number(fDuration)
		if !ok {
			return 0, false
		}
		f, err := fastfloat.Parse(raw)
		if err != nil {
			f = math.Inf(1)
		}
		ns = f
	case fastjson.TypeString:
		s := v.str()
		f, ok := parseDurationText(s)
		if !ok {
			d.invalid(fDuration, "%.64q is not a duration; send a number of nanoseconds or a string such as \"150ms\", \"1.5s\", \"2min\" (units ns, us, ms, s, min, h, d)", s)
			return 0, false
		}
		ns = f
	default:
		d.wrongType(fDuration, "a number of nanoseconds or a string such as \"150ms\"")
		return 0, false
	}
	n, ok := durationNanos(ns)
	if !ok {
		d.invalid(fDuration, "%.64s is out of range; send a non-negative duration below 292 years", v.MarshalTo(nil))
		return 0, false
	}
	return n, true
}

// hexID decodes field i, a string of 2×len(dst) hex digits, into dst. Trace and span ids must
// not be all zero; a parent span id may (it means "no parent"), or may be "".
func (d *ndjsonDecoder) hexID(i int, dst []byte) bool {
	v := d.field(i)
	if v.Type() != fastjson.TypeString {
		d.wrongType(i, "a string of "+strconv.Itoa(2*len(dst))+" hex digits")
		return false
	}
	s := v.str()
	if i == fParentSpanID && len(s) == 0 {
		return true
	}
	if len(s) != 2*len(dst) {
		d.invalid(i, "%.64q is not %d hex digits; send the W3C id in hex", s, 2*len(dst))
		return false
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil { // s is short: no allocation
		d.invalid(i, "%.64q is not %d hex digits; send the W3C id in hex", s, 2*len(dst))
		return false
	}
	if i != fParentSpanID && allZero(dst) {
		d.invalid(i, "is all zeros, which W3C trace context reserves for \"no id\"; send a random non-zero id")
		return false
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// kvs appends the key/value pairs of field i (absent: none), in the order given, to dst. Values
// are rendered by render.
func (d *ndjsonDecoder) kvs(i int, dst []record.KV) ([]record.KV, bool) {
	v := d.field(i)
	if v == nil {
		return dst, true
	}
	if v.Type() != fastjson.TypeObject {
		d.wrongType(i, "a JSON object of keys to values")
		return dst, false
	}
	bad := ""
	add := func(key string, v *jsonValue) {
		if bad != "" {
			return
		}
		value, ok := d.render(v)
		if !ok {
			bad = key
			return
		}
		dst = append(dst, record.KV{Key: key, Value: value})
	}
	if v.fj != nil {
		v.fj.GetObject().Visit(func(key []byte, v *fastjson.Value) {
			add(aliasString(key), &jsonValue{fj: v})
		})
	} else {
		for _, kv := range v.kvs {
			add(kv.key, &jsonValue{t: kv.t, s: kv.s})
		}
	}
	if bad != "" {
		d.notJSON(i, bad)
		return dst, false
	}
	return dst, true
}
