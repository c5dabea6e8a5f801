package normalizer

import (
	"encoding/hex"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/ingestdev/ingest/record"
)

// This file decodes OTLP traces: one record per span, its events and links kept as two
// attributes (the mapping is on otlpFormat).

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

// span emits or rejects one span.
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
