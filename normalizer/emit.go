package normalizer

import (
	"fmt"
	"time"

	"github.com/ingestdev/ingest/record"
)

// emitter collects the outcome of one request: the valid events, encoded into a batch, and the
// rejected ones with their reasons. Decoders fill a record.Record per event and call emit (or
// reject when they cannot build the record at all). An emitter is reused across requests via
// reset and is not safe for concurrent use.
type emitter struct {
	cfg *Config
	now int64 // time of receipt, unix ns: the reference of max_past and max_future

	batch      record.Builder
	rejections []Rejection
	// rejectedBy counts rejections per reason, so that the metrics are updated once per reason
	// and request rather than once per rejected event.
	rejectedBy map[Reason]int
	// acceptedBy counts accepted events per record.Signal.
	acceptedBy [4]int
	// unknownUnits counts events whose unit is not in the conversion table.
	unknownUnits int
}

func (e *emitter) reset(cfg *Config, tenant string, now time.Time) {
	e.cfg = cfg
	e.now = now.UnixNano()
	e.batch.Reset(tenant, e.now)
	e.rejections = e.rejections[:0]
	if e.rejectedBy == nil {
		e.rejectedBy = make(map[Reason]int)
	}
	clear(e.rejectedBy)
	e.acceptedBy = [4]int{}
	e.unknownUnits = 0
}

// tenant returns the tenant of the request being decoded.
func (e *emitter) tenant() string { return e.batch.Batch().Tenant }

// accepted returns the number of events added to the batch.
func (e *emitter) accepted() int { return e.batch.Len() }

// rejected returns the number of events rejected.
func (e *emitter) rejected() int { return len(e.rejections) }

// reject records that the event at index (and NDJSON line, or 0) was rejected.
func (e *emitter) reject(index, line int, reason Reason, format string, args ...any) {
	e.rejections = append(e.rejections, Rejection{
		Index:   index,
		Line:    line,
		Reason:  reason,
		Message: fmt.Sprintf(format, args...),
	})
	e.rejectedBy[reason]++
}

// emit validates r against the limits and adds it to the batch, or rejects it. Decoders
// reject events without a time before they get here (a time of receipt would differ on every
// retry); a zero r.Timestamp is 1970 and fails max_past. It reports whether the event was
// accepted.
func (e *emitter) emit(r *record.Record, index, line int) bool {
	c := e.cfg
	// Compare against the bounds rather than subtracting from r.Timestamp, which can overflow.
	if r.Timestamp < e.now-int64(c.MaxPast) {
		e.reject(index, line, ReasonTimestampTooOld,
			"timestamp %s is more than the %s limit (max_past) before receipt; send recent data or replay old data through an operator",
			time.Unix(0, r.Timestamp).UTC().Format(time.RFC3339Nano), c.MaxPast)
		return false
	}
	if r.Timestamp > e.now+int64(c.MaxFuture) {
		e.reject(index, line, ReasonTimestampTooNew,
			"timestamp %s is more than the %s limit (max_future) after receipt; check the sender's clock and timestamp unit",
			time.Unix(0, r.Timestamp).UTC().Format(time.RFC3339Nano), c.MaxFuture)
		return false
	}
	if len(r.Name) > c.MaxNameBytes {
		e.reject(index, line, ReasonNameTooLong, "name of %d bytes exceeds the %d-byte limit", len(r.Name), c.MaxNameBytes)
		return false
	}
	if len(r.Body) > c.MaxLogBodyBytes {
		e.reject(index, line, ReasonBodyTooLong, "log body of %d bytes exceeds the %d-byte limit", len(r.Body), c.MaxLogBodyBytes)
		return false
	}
	if !e.checkAttributes(r.Attributes, "attributes", index, line) || !e.checkAttributes(r.Resource, "resource", index, line) {
		return false
	}
	// Bounded one by one, attributes, resource and body can still add up to a record the sink
	// writer refuses, with the whole batch: measure the encoding as it is appended, not twice.
	if size, ok := e.batch.AddWithin(r, c.MaxRecordBytes); !ok {
		e.reject(index, line, ReasonEventTooLarge,
			"event of %d bytes encoded exceeds the %d-byte limit (max_record_bytes); shrink its attributes or body", size, c.MaxRecordBytes)
		return false
	}
	if int(r.Signal) < len(e.acceptedBy) {
		e.acceptedBy[r.Signal]++
	}
	return true
}

func (e *emitter) checkAttributes(kvs []record.KV, what string, index, line int) bool {
	c := e.cfg
	if len(kvs) > c.MaxAttributes {
		e.reject(index, line, ReasonTooManyAttributes, "%d %s exceed the limit of %d", len(kvs), what, c.MaxAttributes)
		return false
	}
	for _, kv := range kvs {
		if len(kv.Key) > c.MaxAttributeKeyBytes {
			e.reject(index, line, ReasonAttributeTooLong, "%s key %.32q… of %d bytes exceeds the %d-byte limit", what, kv.Key, len(kv.Key), c.MaxAttributeKeyBytes)
			return false
		}
		if len(kv.Value) > c.MaxAttributeValueBytes {
			e.reject(index, line, ReasonAttributeTooLong, "%s %q: value of %d bytes exceeds the %d-byte limit", what, kv.Key, len(kv.Value), c.MaxAttributeValueBytes)
			return false
		}
	}
	return true
}

// convert returns v in the canonical unit of unit, and that unit. Units outside the conversion
// table pass through unchanged and are counted.
func (e *emitter) convert(v float64, unit string) (float64, string) {
	conv, known := LookupUnit(unit)
	if !known {
		e.unknownUnits++
		return v, unit
	}
	return v * conv.Factor, conv.Canonical
}
