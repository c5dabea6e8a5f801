package normalizer

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/ingestdev/ingest/record"
)

// In-place decoder of OTLP protobuf logs. It reads an ExportLogsServiceRequest straight from
// the wire, in the manner of VictoriaMetrics' easyproto, and emits exactly the records and
// rejections the pdata decoder (decodeOTLPLogsPdata, the parity oracle of the tests) would,
// without building the pdata tree: strings (keys, string values, the body, severity text, event
// name, scope name) alias the request body, which does not change while the records are
// emitted (emit encodes a record before the next item is read), and values rendered otherwise
// go to the converter's arenas as on the pdata path. Converters, with their scratch space, are
// pooled (wireConverters), so that the steady state allocates nothing at all.
//
// Passes over the body, after the nesting guard: wireCountShallow counts the log records
// without entering them, for max_events_per_request; then the conversion (decodeOTLPLogsWire)
// checks every field as pdata would as it converts, into an emitter that is fresh, so that if it
// finds the body malformed after all, what it emitted is taken back by resetting the emitter
// (decodeOTLPLogs). A body over the limit, one malformed, or an emitter already in use take
// the first pass (wireCountLogs), which checks the whole body without emitting, in pdata's
// order, before anything is converted: a body that pdata refuses, or one over the limit, is
// refused before anything is emitted, as with pdata.
//
// Parity with the generated unmarshalers of pdata v1.70 (internal/generated_proto_*.go and
// internal/proto/unmarshal.go), which these rules copy:
//   - Varints are read as pdata reads them: up to 10 bytes, bits beyond 64 dropped, an 11th
//     byte an error. A tag's field number is int32(tag>>3), so a number beyond 32 bits wraps
//     (and one that wraps to 0 or below is an error); unknown fields are skipped as
//     proto.ConsumeUnknown does, groups and its quirks included (wireSkip). A known field with
//     another wire type than its own is an error; so is a trace id of a length other than 0 or
//     16 bytes or a span id of other than 0 or 8 (0 bytes set the id to zeros). Strings are not
//     checked for UTF-8.
//   - A scalar or string field sent twice: the last one wins.
//   - A message field sent twice (resource, scope, body, a key-value's value) is merged, as
//     pdata unmarshals every occurrence into the same message: the resource's attributes are
//     those of every occurrence in order, the scope's name is the last one sent in any
//     occurrence, and an AnyValue (body or attribute value) is the last value field of any of
//     its occurrences, an occurrence without a value field leaving it unchanged.
//   - AnyValue is a oneof: the last value field wins whole (an array or kvlist is replaced, not
//     merged). string_value_strindex (profiles only) is a value pdata reports as empty.
//   - The deprecated scope list of a resource (field 1000, instrumentation_library_logs) is
//     used when the resource has no scope_logs at all (pdata's otlp.MigrateLogs); otherwise it
//     is checked and ignored.
//   - No field read here is a repeated scalar, so packed encoding does not arise; the repeated
//     strings of EntityRef are only checked.
//
// Fallback: a body that the first pass finds malformed, and nothing else, is handed whole to
// decodeOTLPLogsPdata, so that the 400 carries pdata's own description of the fault (and,
// should the two ever disagree on it, pdata's outcome). Every other protobuf body is decoded
// here only.
//
// One deliberate difference: both passes bound the nesting themselves, counted as the nesting
// guard counts it, and refuse a body nested deeper than maxNesting with the guard's error. The
// guard refuses such bodies first, except those nested along a path it does not walk (see
// wireTooDeep), which pdata would unmarshal with unbounded recursion.

// Wire types, as pdata's proto.WireType.
const (
	wtVarint     = 0
	wtI64        = 1
	wtLen        = 2
	wtStartGroup = 3
	wtEndGroup   = 4
	wtI32        = 5
)

// wireVarint reads a varint at pos as proto.ConsumeVarint does.
func wireVarint(b []byte, pos int) (uint64, int, bool) {
	if pos < len(b) && b[pos] < 0x80 {
		return uint64(b[pos]), pos + 1, true
	}
	var num uint64
	for shift := uint(0); ; shift += 7 {
		if shift >= 64 || pos >= len(b) {
			return 0, 0, false
		}
		c := b[pos]
		pos++
		num |= uint64(c&0x7F) << shift
		if c < 0x80 {
			return num, pos, true
		}
	}
}

// wireTag reads a tag at pos as proto.ConsumeTag does.
func wireTag(b []byte, pos int) (int32, uint8, int, bool) {
	tag, pos, ok := wireVarint(b, pos)
	if !ok {
		return 0, 0, 0, false
	}
	num := int32(tag >> 3)
	if num <= 0 {
		return 0, 0, 0, false
	}
	return num, uint8(tag & 7), pos, true
}

// wireSkip skips a value of wire type wt at pos as proto.ConsumeUnknown does, including its
// handling of groups: a group ends at its matching end-group tag, or right after the first
// varint, fixed64, length-delimited or fixed32 value inside it (the rest of the group is then
// read as fields of the enclosing message).
func wireSkip(b []byte, pos int, wt uint8) (int, bool) {
	depth := 0
	var ok bool
	for pos < len(b) {
		switch wt {
		case wtVarint:
			_, pos, ok = wireVarint(b, pos)
			return pos, ok
		case wtI64:
			if pos+8 > len(b) {
				return 0, false
			}
			return pos + 8, true
		case wtLen:
			_, pos, ok = wireLen(b, pos)
			return pos, ok
		case wtStartGroup:
			depth++
		case wtEndGroup:
			if depth == 0 {
				return 0, false
			}
			depth--
		case wtI32:
			if pos+4 > len(b) {
				return 0, false
			}
			return pos + 4, true
		default:
			return 0, false
		}
		if depth == 0 {
			return pos, true
		}
		_, wt, pos, ok = wireTag(b, pos)
		if !ok {
			return 0, false
		}
	}
	return 0, false
}

// wireLen reads the length of a length-delimited value at pos as proto.ConsumeLen does and
// returns the bounds of the value.
func wireLen(b []byte, pos int) (int, int, bool) {
	num, pos, ok := wireVarint(b, pos)
	if !ok {
		return 0, 0, false
	}
	length := int(num)
	if length < 0 {
		return 0, 0, false
	}
	end := pos + length
	if end < 0 || end > len(b) {
		return 0, 0, false
	}
	return pos, end, true
}

// wireNext reads the field at pos: its number and wire type, the value of a varint, fixed64 or
// fixed32 (v), the bounds of a length-delimited value (lo, hi), and the position after it
// (next), or next < 0 when pdata would fail to read it. A field whose wire type is none of the
// four value types is skipped as pdata skips an unknown field; a known field of such a type is
// an error in every OTLP message, which the caller finds when it compares wire types. The
// common one-byte tags and lengths take a short path.
func wireNext(b []byte, pos int) (num int32, wt uint8, v uint64, lo, hi, next int) {
	var tag uint64
	if pos < len(b) && b[pos] < 0x80 {
		tag = uint64(b[pos])
		pos++
	} else {
		var ok bool
		if tag, pos, ok = wireVarint(b, pos); !ok {
			return 0, 0, 0, 0, 0, -1
		}
	}
	num, wt = int32(tag>>3), uint8(tag&7)
	if num <= 0 {
		return 0, 0, 0, 0, 0, -1
	}
	switch wt {
	case wtLen:
		var n uint64
		if pos < len(b) && b[pos] < 0x80 {
			n = uint64(b[pos])
			pos++
		} else {
			var ok bool
			if n, pos, ok = wireVarint(b, pos); !ok {
				return 0, 0, 0, 0, 0, -1
			}
		}
		length := int(n)
		end := pos + length
		if length < 0 || end < 0 || end > len(b) {
			return 0, 0, 0, 0, 0, -1
		}
		return num, wt, 0, pos, end, end
	case wtVarint:
		var ok bool
		if v, pos, ok = wireVarint(b, pos); !ok {
			return 0, 0, 0, 0, 0, -1
		}
		return num, wt, v, 0, 0, pos
	case wtI64:
		if pos+8 > len(b) {
			return 0, 0, 0, 0, 0, -1
		}
		return num, wt, binary.LittleEndian.Uint64(b[pos:]), 0, 0, pos + 8
	case wtI32:
		if pos+4 > len(b) {
			return 0, 0, 0, 0, 0, -1
		}
		return num, wt, uint64(binary.LittleEndian.Uint32(b[pos:])), 0, 0, pos + 4
	}
	var ok bool
	if pos, ok = wireSkip(b, pos, wt); !ok {
		return 0, 0, 0, 0, 0, -1
	}
	return num, wt, 0, 0, 0, pos
}

// First pass: structure and count.

// wireMsg names the messages below ScopeLogs for the first pass.
type wireMsg uint8

const (
	wmNone wireMsg = iota // a scalar, string or bytes field
	wmResource
	wmEntityRef
	wmScope
	wmLogRecord
	wmKeyValue
	wmAnyValue
	wmArrayValue
	wmKeyValueList
	wmTraceID // bytes of 0 or 16
	wmSpanID  // bytes of 0 or 8
)

// wireSpec returns the wire type of field num of message t and the message it holds, and
// false when pdata does not know the field (it is skipped).
func wireSpec(t wireMsg, num int32) (uint8, wireMsg, bool) {
	switch t {
	case wmResource: // opentelemetry.proto.resource.v1.Resource
		switch num {
		case 1: // attributes
			return wtLen, wmKeyValue, true
		case 2: // dropped_attributes_count
			return wtVarint, wmNone, true
		case 3: // entity_refs
			return wtLen, wmEntityRef, true
		}
	case wmEntityRef: // schema_url, type, id_keys, description_keys
		if num >= 1 && num <= 4 {
			return wtLen, wmNone, true
		}
	case wmScope: // InstrumentationScope
		switch num {
		case 1, 2: // name, version
			return wtLen, wmNone, true
		case 3: // attributes
			return wtLen, wmKeyValue, true
		case 4: // dropped_attributes_count
			return wtVarint, wmNone, true
		}
	case wmLogRecord:
		switch num {
		case 1, 11: // time_unix_nano, observed_time_unix_nano
			return wtI64, wmNone, true
		case 2, 7: // severity_number, dropped_attributes_count
			return wtVarint, wmNone, true
		case 3, 12: // severity_text, event_name
			return wtLen, wmNone, true
		case 5: // body
			return wtLen, wmAnyValue, true
		case 6: // attributes
			return wtLen, wmKeyValue, true
		case 8: // flags
			return wtI32, wmNone, true
		case 9:
			return wtLen, wmTraceID, true
		case 10:
			return wtLen, wmSpanID, true
		}
	case wmKeyValue:
		switch num {
		case 1: // key
			return wtLen, wmNone, true
		case 2: // value
			return wtLen, wmAnyValue, true
		case 3: // key_strindex
			return wtVarint, wmNone, true
		}
	case wmAnyValue:
		switch num {
		case 1, 7: // string_value, bytes_value
			return wtLen, wmNone, true
		case 2, 3, 8: // bool_value, int_value, string_value_strindex
			return wtVarint, wmNone, true
		case 4: // double_value
			return wtI64, wmNone, true
		case 5:
			return wtLen, wmArrayValue, true
		case 6:
			return wtLen, wmKeyValueList, true
		}
	case wmArrayValue:
		if num == 1 {
			return wtLen, wmAnyValue, true
		}
	case wmKeyValueList:
		if num == 1 {
			return wtLen, wmKeyValue, true
		}
	}
	return 0, wmNone, false
}

// wireStatus is the verdict of the first pass.
type wireStatus uint8

const (
	wireOK        wireStatus = iota
	wireMalformed            // pdata refuses the body
	// wireTooDeep: the body nests deeper than maxNesting along fields that checkNesting does not
	// follow but pdata does (a field number beyond 32 bits that wraps to a known one, or fields
	// after an unknown group, where the guard stops walking a message). It is refused as the
	// guard would have refused it, rather than handed to pdata, which recurses without bound.
	wireTooDeep
)

// wireValid reports whether pdata unmarshals b as a message of type t, at depth as counted by
// the nesting guard.
func wireValid(t wireMsg, b []byte, depth int) wireStatus {
	if depth > maxNesting {
		return wireTooDeep
	}
	for pos := 0; pos < len(b); {
		num, wt, _, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return wireMalformed
		}
		pos = next
		want, child, known := wireSpec(t, num)
		if !known {
			continue
		}
		if wt != want {
			return wireMalformed
		}
		switch child {
		case wmNone:
		case wmTraceID:
			if n := hi - lo; n != 0 && n != 16 {
				return wireMalformed
			}
		case wmSpanID:
			if n := hi - lo; n != 0 && n != 8 {
				return wireMalformed
			}
		default:
			if st := wireValid(child, b[lo:hi], depth+1); st != wireOK {
				return st
			}
		}
	}
	return wireOK
}

// wireCountLogs reports whether pdata unmarshals body as an ExportLogsServiceRequest and how
// many log records pdata then holds. The request is at depth 1, as in the nesting guard.
func wireCountLogs(body []byte) (int, wireStatus) {
	n := 0
	for pos := 0; pos < len(body); {
		num, wt, _, lo, hi, next := wireNext(body, pos)
		if next < 0 {
			return 0, wireMalformed
		}
		pos = next
		if num != 1 { // resource_logs
			continue
		}
		if wt != wtLen {
			return 0, wireMalformed
		}
		k, st := wireCountResourceLogs(body[lo:hi])
		if st != wireOK {
			return 0, st
		}
		n += k
	}
	return n, wireOK
}

// wireCountShallow counts the log records of body as wireCountLogs does, but reads it only
// down to the ScopeLogs, skipping the log records whole. It returns false when that much of the
// body does not decode.
func wireCountShallow(body []byte) (int, bool) {
	n := 0
	for pos := 0; pos < len(body); {
		num, wt, _, lo, hi, next := wireNext(body, pos)
		if next < 0 || (num == 1 && wt != wtLen) { // resource_logs
			return 0, false
		}
		pos = next
		if num != 1 {
			continue
		}
		rl := body[lo:hi]
		k, deprecated, hasScopeLogs := 0, 0, false
		for p := 0; p < len(rl); {
			num, wt, _, lo, hi, next := wireNext(rl, p)
			if next < 0 {
				return 0, false
			}
			p = next
			switch num {
			case 1, 3: // resource, schema_url
				if wt != wtLen {
					return 0, false
				}
			case 2, 1000: // scope_logs, instrumentation_library_logs
				if wt != wtLen {
					return 0, false
				}
				records := 0
				sl := rl[lo:hi]
				for q := 0; q < len(sl); {
					num, wt, _, _, _, next := wireNext(sl, q)
					if next < 0 || (num <= 3 && wt != wtLen) { // scope, log_records, schema_url
						return 0, false
					}
					q = next
					if num == 2 {
						records++
					}
				}
				if num == 2 {
					k += records
					hasScopeLogs = true
				} else {
					deprecated += records
				}
			}
		}
		if !hasScopeLogs {
			k = deprecated
		}
		n += k
	}
	return n, true
}

// wireCountResourceLogs counts the log records of a ResourceLogs (depth 2).
func wireCountResourceLogs(b []byte) (int, wireStatus) {
	n, deprecated, hasScopeLogs := 0, 0, false
	for pos := 0; pos < len(b); {
		num, wt, _, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return 0, wireMalformed
		}
		pos = next
		switch num {
		case 1: // resource
			if wt != wtLen {
				return 0, wireMalformed
			}
			if st := wireValid(wmResource, b[lo:hi], 3); st != wireOK {
				return 0, st
			}
		case 2, 1000: // scope_logs, the deprecated instrumentation_library_logs
			if wt != wtLen {
				return 0, wireMalformed
			}
			k, st := wireCountScopeLogs(b[lo:hi])
			if st != wireOK {
				return 0, st
			}
			if num == 2 {
				n += k
				hasScopeLogs = true
			} else {
				deprecated += k
			}
		case 3: // schema_url
			if wt != wtLen {
				return 0, wireMalformed
			}
		}
	}
	if !hasScopeLogs {
		return deprecated, wireOK
	}
	return n, wireOK
}

// wireCountScopeLogs counts the log records of a ScopeLogs (depth 3).
func wireCountScopeLogs(b []byte) (int, wireStatus) {
	n := 0
	for pos := 0; pos < len(b); {
		num, wt, _, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return 0, wireMalformed
		}
		pos = next
		switch num {
		case 1, 2: // scope, log_records
			if wt != wtLen {
				return 0, wireMalformed
			}
			t := wmScope
			if num == 2 {
				t = wmLogRecord
				n++
			}
			if st := wireValid(t, b[lo:hi], 4); st != wireOK {
				return 0, st
			}
		case 3: // schema_url
			if wt != wtLen {
				return 0, wireMalformed
			}
		}
	}
	return n, wireOK
}

// The conversion pass. It checks what the first pass checks as it goes, so that a request
// converted into a fresh emitter needs no first pass: should the body turn out malformed after
// some records were emitted, the emitter is reset (see decodeOTLPLogs). Each function returns
// wireOK, or the first fault found.

// wireConverters recycles converters with their scratch space across requests, so that the
// steady state allocates nothing.
var wireConverters = sync.Pool{New: func() any { return new(otlpConverter) }}

// maxPooledArena bounds the arena a pooled converter keeps.
const maxPooledArena = 1 << 20

// decodeOTLPLogsWire emits the log records of body. Unless it returns wireOK, it may have
// emitted some, which the caller discards.
func decodeOTLPLogsWire(body []byte, e *emitter) wireStatus {
	c := wireConverters.Get().(*otlpConverter)
	c.e = e
	st := c.wireLogs(body)
	// Drop the references into the body (and the emitter) before pooling.
	clear(c.res[:cap(c.res)])
	clear(c.attrs[:cap(c.attrs)])
	c.e, c.r, c.scope = nil, record.Record{}, ""
	c.res, c.attrs = c.res[:0], c.attrs[:0]
	if cap(c.arena) > maxPooledArena {
		c.arena = nil
	}
	if cap(c.resArena) > maxPooledArena {
		c.resArena = nil
	}
	wireConverters.Put(c)
	return st
}

// wireLogs converts an ExportLogsServiceRequest (depth 1).
func (c *otlpConverter) wireLogs(body []byte) wireStatus {
	index := 0
	for pos := 0; pos < len(body); {
		num, wt, _, lo, hi, next := wireNext(body, pos)
		if next < 0 {
			return wireMalformed
		}
		pos = next
		if num != 1 { // resource_logs
			continue
		}
		if wt != wtLen {
			return wireMalformed
		}
		if st := c.wireResourceLogs(body[lo:hi], &index); st != wireOK {
			return st
		}
	}
	return wireOK
}

// wireResourceLogs converts a ResourceLogs (depth 2).
func (c *otlpConverter) wireResourceLogs(b []byte, index *int) wireStatus {
	// The resource first, which may come after the scopes: the attributes of every occurrence.
	c.resArena = c.resArena[:0]
	c.res = c.res[:0]
	hasScopeLogs := false
	for pos := 0; pos < len(b); {
		num, wt, _, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return wireMalformed
		}
		pos = next
		switch num {
		case 1: // resource
			if wt != wtLen {
				return wireMalformed
			}
			var st wireStatus
			if c.res, st = c.wireResource(c.res, b[lo:hi]); st != wireOK {
				return st
			}
		case 2, 3, 1000: // scope_logs, schema_url, the deprecated instrumentation_library_logs
			if wt != wtLen {
				return wireMalformed
			}
			hasScopeLogs = hasScopeLogs || num == 2
		}
	}
	scopes, ignored := int32(2), int32(1000)
	if !hasScopeLogs {
		scopes, ignored = 1000, 2
	}
	for pos := 0; pos < len(b); { // read once already
		num, _, _, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return wireMalformed
		}
		pos = next
		switch num {
		case scopes:
			if st := c.wireScopeLogs(b[lo:hi], index); st != wireOK {
				return st
			}
		case ignored: // pdata unmarshals it all the same
			if _, st := wireCountScopeLogs(b[lo:hi]); st != wireOK {
				return st
			}
		}
	}
	return wireOK
}

// wireResource appends the attributes of a Resource (depth 3) to dst.
func (c *otlpConverter) wireResource(dst []record.KV, b []byte) ([]record.KV, wireStatus) {
	for pos := 0; pos < len(b); {
		num, wt, _, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return dst, wireMalformed
		}
		pos = next
		switch num {
		case 1: // attributes
			if wt != wtLen {
				return dst, wireMalformed
			}
			key, v, st := wireKeyValue(b[lo:hi], 4)
			if st != wireOK {
				return dst, st
			}
			dst = append(dst, record.KV{Key: key, Value: c.renderWire(v, &c.resArena)})
		case 2: // dropped_attributes_count
			if wt != wtVarint {
				return dst, wireMalformed
			}
		case 3: // entity_refs
			if wt != wtLen {
				return dst, wireMalformed
			}
			if st := wireValid(wmEntityRef, b[lo:hi], 4); st != wireOK {
				return dst, st
			}
		}
	}
	return dst, wireOK
}

// wireScopeLogs converts a ScopeLogs (depth 3).
func (c *otlpConverter) wireScopeLogs(b []byte, index *int) wireStatus {
	c.scope = ""
	for pos := 0; pos < len(b); {
		num, wt, _, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return wireMalformed
		}
		pos = next
		switch num {
		case 1: // scope: its name is the last one of any occurrence
			if wt != wtLen {
				return wireMalformed
			}
			s := b[lo:hi]
			if st := wireValid(wmScope, s, 4); st != wireOK {
				return st
			}
			for p := 0; p < len(s); {
				num, _, _, lo, hi, next := wireNext(s, p)
				if next < 0 {
					return wireMalformed
				}
				p = next
				if num == 1 {
					c.scope = aliasString(s[lo:hi])
				}
			}
		case 2, 3: // log_records, schema_url
			if wt != wtLen {
				return wireMalformed
			}
		}
	}
	for pos := 0; pos < len(b); { // read once already
		num, _, _, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return wireMalformed
		}
		pos = next
		if num == 2 {
			if st := c.wireLogRecord(b[lo:hi], *index); st != wireOK {
				return st
			}
			*index++
		}
	}
	return wireOK
}

// wireLogRecord is logRecord on the wire, for a LogRecord at depth 4.
func (c *otlpConverter) wireLogRecord(b []byte, index int) wireStatus {
	r := c.newRecord(record.SignalLog)
	var ts, observed, severity uint64
	var body wireValue
	var traceID [16]byte
	var spanID [8]byte
	for pos := 0; pos < len(b); {
		num, wt, v, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return wireMalformed
		}
		pos = next
		switch num {
		case 1, 11: // time_unix_nano, observed_time_unix_nano
			if wt != wtI64 {
				return wireMalformed
			}
			if num == 1 {
				ts = v
			} else {
				observed = v
			}
		case 2, 7: // severity_number, dropped_attributes_count
			if wt != wtVarint {
				return wireMalformed
			}
			if num == 2 {
				severity = v
			}
		case 3, 12: // severity_text, event_name
			if wt != wtLen {
				return wireMalformed
			}
			if num == 3 {
				r.SeverityText = aliasString(b[lo:hi])
			} else {
				r.Name = aliasString(b[lo:hi])
			}
		case 5: // body
			if wt != wtLen {
				return wireMalformed
			}
			if st := body.mergeChecked(b[lo:hi], 5); st != wireOK {
				return st
			}
		case 6: // attributes
			if wt != wtLen {
				return wireMalformed
			}
			key, v, st := wireKeyValue(b[lo:hi], 5)
			if st != wireOK {
				return st
			}
			c.attrs = append(c.attrs, record.KV{Key: key, Value: c.renderWire(v, &c.arena)})
		case 8: // flags
			if wt != wtI32 {
				return wireMalformed
			}
		case 9: // trace_id: 0 bytes (zeros) or 16
			if wt != wtLen || (hi-lo != 0 && hi-lo != 16) {
				return wireMalformed
			}
			traceID = [16]byte{}
			copy(traceID[:], b[lo:hi])
		case 10: // span_id: 0 bytes (zeros) or 8
			if wt != wtLen || (hi-lo != 0 && hi-lo != 8) {
				return wireMalformed
			}
			spanID = [8]byte{}
			copy(spanID[:], b[lo:hi])
		}
	}
	field := "time_unix_nano"
	if ts == 0 {
		field, ts = "observed_time_unix_nano", observed
	}
	if ts == 0 {
		c.e.reject(index, 0, ReasonMissingField, "time_unix_nano and observed_time_unix_nano are both 0; set the record's time (the time of receipt would make every retry of the request a new event)")
		return wireOK
	}
	var ok bool
	if r.Timestamp, ok = c.timestamp(pcommon.Timestamp(ts), field, index); !ok {
		return wireOK
	}
	sev := int32(severity) // pdata's SeverityNumber is an int32
	if sev < 0 || sev > 24 {
		c.e.reject(index, 0, ReasonInvalidField, "severity_number %d is outside 0..24", sev)
		return wireOK
	}
	r.SeverityNumber = uint8(sev)
	r.Body = c.renderWire(body, &c.arena)
	if traceID != [16]byte{} {
		r.HasTrace = true
		r.TraceID = traceID
		r.SpanID = spanID
	}
	r.Attributes = c.attrs
	c.e.emit(r, index, 0)
	return wireOK
}

// wireValue is an AnyValue as pdata holds it after unmarshaling: the last value field of its
// occurrences. field 0 is no value.
type wireValue struct {
	field int32  // the AnyValue field number: 1 string, 2 bool, 3 int, 4 double, 5 array, 6 kvlist, 7 bytes, 8 strindex
	v     uint64 // a bool, int or double
	data  []byte // a string, bytes, array or kvlist
}

// mergeChecked reads one occurrence of an AnyValue message at depth into v, checking it (an
// array or kvlist whole).
func (v *wireValue) mergeChecked(b []byte, depth int) wireStatus {
	if depth > maxNesting {
		return wireTooDeep
	}
	for pos := 0; pos < len(b); {
		num, wt, x, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return wireMalformed
		}
		pos = next
		switch num {
		case 1, 7: // string_value, bytes_value
			if wt != wtLen {
				return wireMalformed
			}
		case 2, 3, 8: // bool_value, int_value, string_value_strindex
			if wt != wtVarint {
				return wireMalformed
			}
		case 4: // double_value
			if wt != wtI64 {
				return wireMalformed
			}
		case 5, 6: // array_value, kvlist_value
			if wt != wtLen {
				return wireMalformed
			}
			t := wmArrayValue
			if num == 6 {
				t = wmKeyValueList
			}
			if st := wireValid(t, b[lo:hi], depth+1); st != wireOK {
				return st
			}
		default:
			continue
		}
		v.field, v.v, v.data = num, x, b[lo:hi]
	}
	return wireOK
}

// merge is mergeChecked for a value already checked.
func (v *wireValue) merge(b []byte) {
	for pos := 0; pos < len(b); {
		num, _, x, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return
		}
		pos = next
		if num >= 1 && num <= 8 {
			v.field, v.v, v.data = num, x, b[lo:hi]
		}
	}
}

// wireKeyValue returns the key (the last sent) and the value (merged) of a KeyValue message at
// depth, checking it.
func wireKeyValue(b []byte, depth int) (string, wireValue, wireStatus) {
	var key string
	var v wireValue
	for pos := 0; pos < len(b); {
		num, wt, _, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			return "", v, wireMalformed
		}
		pos = next
		switch num {
		case 1: // key
			if wt != wtLen {
				return "", v, wireMalformed
			}
			key = aliasString(b[lo:hi])
		case 2: // value
			if wt != wtLen {
				return "", v, wireMalformed
			}
			if st := v.mergeChecked(b[lo:hi], depth+1); st != wireOK {
				return "", v, st
			}
		case 3: // key_strindex
			if wt != wtVarint {
				return "", v, wireMalformed
			}
		}
	}
	return key, v, wireOK
}

// wireKeyValueChecked is wireKeyValue for a KeyValue already checked.
func wireKeyValueChecked(b []byte) (string, wireValue) {
	var key string
	var v wireValue
	for pos := 0; pos < len(b); {
		num, _, _, lo, hi, next := wireNext(b, pos)
		if next < 0 {
			break
		}
		pos = next
		switch num {
		case 1:
			key = aliasString(b[lo:hi])
		case 2:
			v.merge(b[lo:hi])
		}
	}
	return key, v
}

// renderWire is render on the wire: a string aliases the body, any other rendering the arena.
func (c *otlpConverter) renderWire(v wireValue, arena *[]byte) string {
	start := len(*arena)
	switch v.field {
	case 1:
		return aliasString(v.data)
	case 2:
		if v.v != 0 {
			return "true"
		}
		return "false"
	case 3:
		*arena = strconv.AppendInt(*arena, int64(v.v), 10)
	case 4:
		*arena = appendDouble(*arena, math.Float64frombits(v.v))
	case 7:
		*arena = base64.StdEncoding.AppendEncode(*arena, v.data)
	case 5, 6:
		*arena = appendWireJSON(*arena, v)
	default:
		return ""
	}
	return aliasString((*arena)[start:])
}

// appendWireJSON is appendJSON on the wire, for a checked value.
func appendWireJSON(dst []byte, v wireValue) []byte {
	switch v.field {
	case 1:
		return appendJSONString(dst, aliasString(v.data))
	case 2:
		return strconv.AppendBool(dst, v.v != 0)
	case 3:
		return strconv.AppendInt(dst, int64(v.v), 10)
	case 4:
		return appendJSONDouble(dst, math.Float64frombits(v.v))
	case 7:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v.data)
		return append(dst, '"')
	case 5, 6: // ArrayValue or KeyValueList: their values (field 1), AnyValues or KeyValues
		open, end := byte('['), byte(']')
		if v.field == 6 {
			open, end = '{', '}'
		}
		dst = append(dst, open)
		for pos, i := 0, 0; ; i++ {
			lo, hi, next, ok := wireNextElement(v.data, pos)
			if !ok {
				break
			}
			pos = next
			if i > 0 {
				dst = append(dst, ',')
			}
			if v.field == 6 {
				key, val := wireKeyValueChecked(v.data[lo:hi])
				dst = append(appendJSONString(dst, key), ':')
				dst = appendWireJSON(dst, val)
				continue
			}
			var elem wireValue
			elem.merge(v.data[lo:hi])
			dst = appendWireJSON(dst, elem)
		}
		return append(dst, end)
	}
	return append(dst, "null"...)
}

// wireNextElement returns the bounds of the next field 1 at or after pos in msg (an element of
// an ArrayValue or a KeyValueList) and the position after it; ok is false when there is none
// (the end, or bytes pdata would have refused, which the checking pass has ruled out).
func wireNextElement(msg []byte, pos int) (lo, hi, next int, ok bool) {
	for pos < len(msg) {
		num, _, _, lo, hi, next := wireNext(msg, pos)
		if next < 0 {
			return 0, 0, 0, false
		}
		if num == 1 {
			return lo, hi, next, true
		}
		pos = next
	}
	return 0, 0, 0, false
}
