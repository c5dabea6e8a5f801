package recordtest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sync"

	"github.com/ingestdev/ingest/record"
)

// JSON renders every record of batch data as indented JSON, one object per record with every
// field named, for golden files and failure messages. Floats that JSON cannot carry (NaN, ±Inf)
// are rendered as strings.
func JSON(data []byte) ([]byte, error) {
	var out []map[string]any
	var r record.Record
	err := record.Frames(data, func(rec []byte) error {
		if err := record.Decode(rec, &r); err != nil {
			return err
		}
		out = append(out, Map(&r))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(out, "", "  ")
}

// Map renders one record as a map with only the fields that apply to its signal.
func Map(r *record.Record) map[string]any {
	m := map[string]any{
		"tenant":      r.Tenant,
		"signal":      r.Signal.String(),
		"event_id":    r.EventID.String(),
		"timestamp":   r.Timestamp,
		"received_at": r.ReceivedAt,
		"name":        r.Name,
		"scope":       r.Scope,
		"unit":        r.Unit,
		"attributes":  kvs(r.Attributes),
		"resource":    kvs(r.Resource),
	}
	if r.HasTrace {
		m["trace_id"] = hex.EncodeToString(r.TraceID[:])
		m["span_id"] = hex.EncodeToString(r.SpanID[:])
		m["parent_span_id"] = hex.EncodeToString(r.ParentSpanID[:])
	}
	switch r.Signal {
	case record.SignalLog:
		m["severity_number"] = r.SeverityNumber
		m["severity_text"] = r.SeverityText
		m["body"] = r.Body
	case record.SignalMetric:
		m["metric_kind"] = r.MetricKind
		m["temporality"] = r.Temporality
		m["monotonic"] = r.Monotonic
		m["value"] = num(r.Value)
		if r.HasDistribution {
			m["count"] = r.Count
			m["sum"] = num(r.Sum)
			var bs [][2]any
			for _, b := range r.Buckets {
				bs = append(bs, [2]any{num(b.UpperBound), b.Count})
			}
			m["buckets"] = bs
			var qs [][2]any
			for _, q := range r.Quantiles {
				qs = append(qs, [2]any{num(q.Quantile), num(q.Value)})
			}
			m["quantiles"] = qs
		}
		if r.HasMinMax {
			m["min"] = num(r.Min)
			m["max"] = num(r.Max)
		}
	case record.SignalSpan:
		m["duration"] = r.Duration
		m["span_kind"] = r.SpanKind
		m["status_code"] = r.StatusCode
		m["status_message"] = r.StatusMessage
	}
	return m
}

func kvs(in []record.KV) [][2]string {
	out := make([][2]string, 0, len(in))
	for _, kv := range in {
		out = append(out, [2]string{kv.Key, kv.Value})
	}
	return out
}

func num(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprint(f)
	}
	return f
}

// Sink records every batch written to it. Err, when set, is returned by Write instead of
// recording. It is safe for concurrent use.
type Sink struct {
	mu      sync.Mutex
	err     error
	batches []record.Batch
}

// Write records a copy of b, or returns the error set with SetErr.
func (s *Sink) Write(_ context.Context, b record.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	b.Data = append([]byte(nil), b.Data...)
	s.batches = append(s.batches, b)
	return nil
}

// SetErr makes later writes fail with err (nil to succeed again).
func (s *Sink) SetErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// Batches returns the batches written so far.
func (s *Sink) Batches() []record.Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record.Batch(nil), s.batches...)
}

// Records returns every record written so far, decoded, in order.
func (s *Sink) Records() ([]record.Record, error) {
	var out []record.Record
	for _, b := range s.Batches() {
		err := record.Frames(b.Data, func(rec []byte) error {
			var r record.Record
			if err := record.Decode(rec, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
