package normalizer

import (
	"strconv"

	"github.com/valyala/fastjson"
)

// This file is the field table of the native schema (docs/native-schema.md): the top-level
// fields a line may carry, how a line's fields are filed and read by type, and the rejections
// that name a field.

// Top-level fields of the native schema, indexes into ndjsonDecoder.vals.
const (
	fType = iota
	fTS
	fTSUnit
	fName
	fValue
	fUnit
	fKind
	fBody
	fSeverity
	fTraceID
	fSpanID
	fParentSpanID
	fDuration
	fAttributes
	fResource
	fEventID
	numNativeFields
)

var nativeFieldNames = [numNativeFields]string{
	fType: "type", fTS: "ts", fTSUnit: "ts_unit", fName: "name", fValue: "value", fUnit: "unit",
	fKind: "kind", fBody: "body", fSeverity: "severity", fTraceID: "trace_id", fSpanID: "span_id",
	fParentSpanID: "parent_span_id", fDuration: "duration", fAttributes: "attributes",
	fResource: "resource", fEventID: "event_id",
}

// file files a top-level field under its index; unknown fields are ignored.
func (d *ndjsonDecoder) file(key string, v *jsonValue) {
	var i int
	switch key {
	case "type":
		i = fType
	case "ts":
		i = fTS
	case "ts_unit":
		i = fTSUnit
	case "name":
		i = fName
	case "value":
		i = fValue
	case "unit":
		i = fUnit
	case "kind":
		i = fKind
	case "body":
		i = fBody
	case "severity":
		i = fSeverity
	case "trace_id":
		i = fTraceID
	case "span_id":
		i = fSpanID
	case "parent_span_id":
		i = fParentSpanID
	case "duration":
		i = fDuration
	case "attributes":
		i = fAttributes
	case "resource":
		i = fResource
	case "event_id":
		i = fEventID
	default:
		return
	}
	if d.seen&(1<<i) != 0 && d.dup < 0 {
		d.dup = i
	}
	d.seen |= 1 << i
	if v.Type() != fastjson.TypeNull {
		d.vals[i] = *v
		d.present |= 1 << i
	}
}

// field returns top-level field i of the current line, or nil when it is absent or null.
func (d *ndjsonDecoder) field(i int) *jsonValue {
	if d.present&(1<<i) == 0 {
		return nil
	}
	return &d.vals[i]
}

// str returns field i as a string ("" when absent); it rejects other types.
func (d *ndjsonDecoder) str(i int) (string, bool) {
	v := d.field(i)
	if v == nil {
		return "", true
	}
	if v.Type() != fastjson.TypeString {
		d.wrongType(i, "a string")
		return "", false
	}
	return v.str(), true
}

// number returns field i, a JSON number, as written. It rejects text that the lenient parser
// took for a number but JSON does not (NaN, Infinity, leading zeros or plus signs).
func (d *ndjsonDecoder) number(i int) (string, bool) {
	start := len(d.arena)
	d.arena = d.field(i).MarshalTo(d.arena)
	raw := aliasString(d.arena[start:])
	if !isJSONNumber(raw) {
		d.notJSON(i, "")
		return "", false
	}
	return raw, true
}

func (d *ndjsonDecoder) missing(i int, requiredBy string) {
	d.e.reject(d.index, d.line, ReasonMissingField, "missing field %q (required for %s); add it", nativeFieldNames[i], requiredBy)
}

func (d *ndjsonDecoder) invalid(i int, format string, args ...any) {
	d.e.reject(d.index, d.line, ReasonInvalidField, "field %q "+format, append([]any{nativeFieldNames[i]}, args...)...)
}

// notJSON rejects the line for a value of field i (and attribute key, if any) that the lenient
// parser took but JSON does not allow.
func (d *ndjsonDecoder) notJSON(i int, key string) {
	where := strconv.Quote(nativeFieldNames[i])
	if key != "" {
		where += " key " + strconv.Quote(shorten(key, 64))
	}
	d.e.reject(d.index, d.line, ReasonInvalidJSON, "line is not valid JSON (the value of %s is not a JSON value: NaN, Infinity, leading zeros, control characters or bad escapes); send one JSON object per line", where)
}

func (d *ndjsonDecoder) wrongType(i int, want string) {
	d.e.reject(d.index, d.line, ReasonInvalidField, "field %q is a JSON %s; send %s", nativeFieldNames[i], jsonTypeName(d.field(i).Type()), want)
}

// jsonTypeName names JSON type t for messages.
func jsonTypeName(t fastjson.Type) string {
	switch t {
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "boolean"
	default:
		return t.String()
	}
}
