package normalizer

import (
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/ingestdev/ingest/record"
)

// This file decodes OTLP logs: one record per log record (the mapping is on otlpFormat).

// decodeOTLPLogs decodes an OTLP logs request and emits one record per log record. It returns a
// *requestError when the body cannot be decoded (400) or holds more than
// max_events_per_request log records (413); then nothing has been emitted.
//
// A protobuf body is read in place (otlp_logs_wire.go); a JSON body, and a protobuf body that
// does not decode (for pdata's description of the fault), go through pdata.
func decodeOTLPLogs(body []byte, f otlpFormat, e *emitter) error {
	if f == otlpJSON {
		return decodeOTLPLogsPdata(body, f, e)
	}
	// No separate nesting guard: both passes below bound the nesting themselves, as the guard
	// counts it, and refuse with its error (wireTooDeep); pdata gets a body only through
	// decodeOTLPLogsPdata, which runs the guard first. The guard's walk was a fifth of the
	// normalizer's CPU on OTLP logs (make bench-ack profile).
	limit := e.cfg.MaxEventsPerRequest
	if n, ok := wireCountShallow(body); ok && n <= limit && e.accepted()+e.rejected() == 0 {
		// The common case: convert as the body is checked. A fault found on the way takes back
		// what was emitted (the emitter was fresh) and leaves the verdict to the first pass
		// below, which finds the faults in pdata's order.
		if decodeOTLPLogsWire(body, e) == wireOK {
			return nil
		}
		e.reset(e.cfg, e.tenant(), time.Unix(0, e.now))
	}
	// Malformed, over the limit (pdata reports a malformed body first), or an emitter already
	// in use: check the whole body before emitting anything.
	n, st := wireCountLogs(body)
	switch st {
	case wireMalformed:
		return decodeOTLPLogsPdata(body, f, e)
	case wireTooDeep:
		return errTooDeep()
	}
	if n > limit {
		return errTooManyEvents(n, limit)
	}
	if decodeOTLPLogsWire(body, e) != wireOK { // cannot happen: the body is checked
		e.reset(e.cfg, e.tenant(), time.Unix(0, e.now))
		return decodeOTLPLogsPdata(body, f, e)
	}
	return nil
}

// decodeOTLPLogsPdata is decodeOTLPLogs through pdata: the decoder of JSON bodies and of
// protobuf bodies that do not decode, and the oracle the in-place decoder is tested against
// (FuzzOTLPLogsWireParity).
func decodeOTLPLogsPdata(body []byte, f otlpFormat, e *emitter) error {
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

// logRecord emits or rejects one log record.
func (c *otlpConverter) logRecord(lr plog.LogRecord, index int) {
	r := c.newRecord(record.SignalLog)
	field, ts := "time_unix_nano", lr.Timestamp()
	if ts == 0 {
		field, ts = "observed_time_unix_nano", lr.ObservedTimestamp()
	}
	if ts == 0 {
		c.e.reject(index, 0, ReasonMissingField, "time_unix_nano and observed_time_unix_nano are both 0; set the record's time (the time of receipt would make every retry of the request a new event)")
		return
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
