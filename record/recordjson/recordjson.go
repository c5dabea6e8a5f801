// Package recordjson renders normalized records (package record) as JSON and reads them back,
// losslessly: Unmarshal of Marshal's output gives a record that record.Append encodes to the
// same bytes. It is what `ingest record decode` prints, one object per line, so that records
// read from Kafka (with kcat, or by topic and offsets) can be inspected with jq.
//
// The object has the fields of the record's signal only, in snake case:
//
//	tenant, signal ("log", "metric", "span"), event_id (hex), time (RFC 3339, for people),
//	time_unix_nano, received_unix_nano, name, scope, unit, attributes and resource (arrays of
//	{"key", "value"}: order and repeats are kept), and when set trace_id, span_id,
//	parent_span_id (hex); logs: severity_number, severity_text, body; metrics: metric_kind,
//	temporality, monotonic, value, and for distributions count, sum, buckets
//	([{"upper_bound", "count"}]), quantiles ([{"quantile", "value"}]), min and max; spans:
//	duration_ns, span_kind, status_code, status_message.
//
// Two values JSON cannot carry are written another way: a float that is not finite is the
// string "+Inf", "-Inf" or "NaN"; a string that is not valid UTF-8 (the record keeps what the
// client sent) is {"base64": "..."}.
package recordjson

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ingestdev/ingest/record"
)

// text is a string that may not be valid UTF-8.
type text string

func (t text) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(t)) {
		return json.Marshal(string(t))
	}
	return json.Marshal(map[string]string{"base64": base64.StdEncoding.EncodeToString([]byte(t))})
}

func (t *text) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var m struct {
			Base64 string `json:"base64"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		raw, err := base64.StdEncoding.DecodeString(m.Base64)
		if err != nil {
			return fmt.Errorf("base64: %w", err)
		}
		*t = text(raw)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = text(s)
	return nil
}

// float is a float64 that may be infinite or NaN.
type float float64

func (f float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *float) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"+Inf"`:
		*f = float(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = float(math.Inf(-1))
		return nil
	case `"NaN"`:
		*f = float(math.NaN())
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("%s is not a number, \"+Inf\", \"-Inf\" or \"NaN\"", b)
	}
	*f = float(v)
	return nil
}

type kv struct {
	Key   text `json:"key"`
	Value text `json:"value"`
}

type bucket struct {
	UpperBound float  `json:"upper_bound"`
	Count      uint64 `json:"count"`
}

type quantile struct {
	Quantile float `json:"quantile"`
	Value    float `json:"value"`
}

// object is the JSON form of a record. Pointers are fields a signal may leave out.
type object struct {
	Tenant       text   `json:"tenant"`
	Signal       string `json:"signal"`
	EventID      string `json:"event_id"`
	Time         string `json:"time,omitempty"`
	TimeUnixNano int64  `json:"time_unix_nano"`
	ReceivedNano int64  `json:"received_unix_nano"`
	Name         text   `json:"name"`
	Scope        text   `json:"scope"`
	Unit         text   `json:"unit"`
	Attributes   []kv   `json:"attributes"`
	Resource     []kv   `json:"resource"`
	TraceID      string `json:"trace_id,omitempty"`
	SpanID       string `json:"span_id,omitempty"`
	ParentSpanID string `json:"parent_span_id,omitempty"`

	SeverityNumber *uint8 `json:"severity_number,omitempty"`
	SeverityText   *text  `json:"severity_text,omitempty"`
	Body           *text  `json:"body,omitempty"`

	MetricKind  *uint8     `json:"metric_kind,omitempty"`
	Temporality *uint8     `json:"temporality,omitempty"`
	Monotonic   *bool      `json:"monotonic,omitempty"`
	Value       *float     `json:"value,omitempty"`
	Count       *uint64    `json:"count,omitempty"`
	Sum         *float     `json:"sum,omitempty"`
	Buckets     []bucket   `json:"buckets,omitempty"`
	Quantiles   []quantile `json:"quantiles,omitempty"`
	Min         *float     `json:"min,omitempty"`
	Max         *float     `json:"max,omitempty"`

	DurationNano  *int64 `json:"duration_ns,omitempty"`
	SpanKind      *uint8 `json:"span_kind,omitempty"`
	StatusCode    *uint8 `json:"status_code,omitempty"`
	StatusMessage *text  `json:"status_message,omitempty"`
}

func kvsOf(in []record.KV) []kv {
	out := make([]kv, len(in))
	for i, a := range in {
		out[i] = kv{text(a.Key), text(a.Value)}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// Marshal returns r as one JSON object, without a trailing newline.
func Marshal(r *record.Record) ([]byte, error) {
	o := object{Tenant: text(r.Tenant), Signal: r.Signal.String(), EventID: r.EventID.String(),
		Time: time.Unix(0, r.Timestamp).UTC().Format(time.RFC3339Nano), TimeUnixNano: r.Timestamp, ReceivedNano: r.ReceivedAt,
		Name: text(r.Name), Scope: text(r.Scope), Unit: text(r.Unit), Attributes: kvsOf(r.Attributes), Resource: kvsOf(r.Resource)}
	if r.HasTrace {
		o.TraceID, o.SpanID, o.ParentSpanID = hex.EncodeToString(r.TraceID[:]), hex.EncodeToString(r.SpanID[:]), hex.EncodeToString(r.ParentSpanID[:])
	}
	switch r.Signal {
	case record.SignalLog:
		o.SeverityNumber, o.SeverityText, o.Body = ptr(r.SeverityNumber), ptr(text(r.SeverityText)), ptr(text(r.Body))
	case record.SignalMetric:
		o.MetricKind, o.Temporality, o.Monotonic, o.Value = ptr(uint8(r.MetricKind)), ptr(uint8(r.Temporality)), ptr(r.Monotonic), ptr(float(r.Value))
		if r.HasDistribution {
			o.Count, o.Sum = ptr(r.Count), ptr(float(r.Sum))
			o.Buckets = make([]bucket, len(r.Buckets))
			for i, b := range r.Buckets {
				o.Buckets[i] = bucket{float(b.UpperBound), b.Count}
			}
			o.Quantiles = make([]quantile, len(r.Quantiles))
			for i, q := range r.Quantiles {
				o.Quantiles[i] = quantile{float(q.Quantile), float(q.Value)}
			}
		}
		if r.HasMinMax {
			o.Min, o.Max = ptr(float(r.Min)), ptr(float(r.Max))
		}
	case record.SignalSpan:
		o.DurationNano, o.SpanKind, o.StatusCode, o.StatusMessage = ptr(r.Duration), ptr(r.SpanKind), ptr(r.StatusCode), ptr(text(r.StatusMessage))
	default:
		return nil, fmt.Errorf("cannot render a record of %v", r.Signal)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&o); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Unmarshal reads a record Marshal wrote into r. Unknown fields and fields of another signal
// are refused; "time" is ignored (time_unix_nano is the time).
func Unmarshal(data []byte, r *record.Record) error {
	var o object
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return fmt.Errorf("not a record: %w", err)
	}
	*r = record.Record{Tenant: string(o.Tenant), Timestamp: o.TimeUnixNano, ReceivedAt: o.ReceivedNano,
		Name: string(o.Name), Scope: string(o.Scope), Unit: string(o.Unit)}
	switch o.Signal {
	case "log":
		r.Signal = record.SignalLog
	case "metric":
		r.Signal = record.SignalMetric
	case "span":
		r.Signal = record.SignalSpan
	default:
		return fmt.Errorf("signal %q is not log, metric or span", o.Signal)
	}
	if err := hexInto(r.EventID[:], o.EventID, "event_id"); err != nil {
		return err
	}
	for _, a := range o.Attributes {
		r.Attributes = append(r.Attributes, record.KV{Key: string(a.Key), Value: string(a.Value)})
	}
	for _, a := range o.Resource {
		r.Resource = append(r.Resource, record.KV{Key: string(a.Key), Value: string(a.Value)})
	}
	if o.TraceID != "" || o.SpanID != "" || o.ParentSpanID != "" {
		r.HasTrace = true
		for _, h := range []struct {
			dst  []byte
			src  string
			name string
		}{{r.TraceID[:], o.TraceID, "trace_id"}, {r.SpanID[:], o.SpanID, "span_id"}, {r.ParentSpanID[:], o.ParentSpanID, "parent_span_id"}} {
			if err := hexInto(h.dst, h.src, h.name); err != nil {
				return err
			}
		}
	}
	var errs []error
	other := func(name string, set bool) {
		if set {
			errs = append(errs, fmt.Errorf("%s is not a field of a %s record", name, o.Signal))
		}
	}
	logSet := o.SeverityNumber != nil || o.SeverityText != nil || o.Body != nil
	metricSet := o.MetricKind != nil || o.Temporality != nil || o.Monotonic != nil || o.Value != nil || o.Count != nil ||
		o.Sum != nil || o.Buckets != nil || o.Quantiles != nil || o.Min != nil || o.Max != nil
	spanSet := o.DurationNano != nil || o.SpanKind != nil || o.StatusCode != nil || o.StatusMessage != nil
	switch r.Signal {
	case record.SignalLog:
		other("a metric field", metricSet)
		other("a span field", spanSet)
		r.SeverityNumber, r.SeverityText, r.Body = deref(o.SeverityNumber), string(deref(o.SeverityText)), string(deref(o.Body))
	case record.SignalMetric:
		other("a log field", logSet)
		other("a span field", spanSet)
		r.MetricKind, r.Temporality = record.MetricKind(deref(o.MetricKind)), record.Temporality(deref(o.Temporality))
		r.Monotonic, r.Value = deref(o.Monotonic), float64(deref(o.Value))
		if o.Count != nil || o.Sum != nil || o.Buckets != nil || o.Quantiles != nil {
			r.HasDistribution, r.Count, r.Sum = true, deref(o.Count), float64(deref(o.Sum))
			for _, b := range o.Buckets {
				r.Buckets = append(r.Buckets, record.Bucket{UpperBound: float64(b.UpperBound), Count: b.Count})
			}
			for _, q := range o.Quantiles {
				r.Quantiles = append(r.Quantiles, record.Quantile{Quantile: float64(q.Quantile), Value: float64(q.Value)})
			}
		}
		if o.Min != nil || o.Max != nil {
			r.HasMinMax, r.Min, r.Max = true, float64(deref(o.Min)), float64(deref(o.Max))
		}
	case record.SignalSpan:
		other("a log field", logSet)
		other("a metric field", metricSet)
		r.Duration, r.SpanKind, r.StatusCode, r.StatusMessage = deref(o.DurationNano), deref(o.SpanKind), deref(o.StatusCode), string(deref(o.StatusMessage))
	}
	return errors.Join(errs...)
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

func hexInto(dst []byte, s, name string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(dst) {
		return fmt.Errorf("%s %q is not %d hex bytes", name, s, len(dst))
	}
	copy(dst, b)
	return nil
}
