package normalizer

import (
	"math"
	"strconv"

	"github.com/valyala/fastjson"
	"github.com/valyala/fastjson/fastfloat"
)

// jsonValue is one JSON value of a line, from either of the decoder's two parsers:
//   - the fast scanner (scanLine), which takes only the common, simple shape of a line and
//     produces values without copying or unescaping anything (fj is nil);
//   - fastjson, for every other line (fj is set; the other fields are unused).
//
// The decoder reads values through the methods below (and kvs, for an object's members), so
// both sources behave the same.
type jsonValue struct {
	fj *fastjson.Value

	t   fastjson.Type
	s   string      // a string's text (it holds no escapes) or a number as written
	kvs []scannedKV // an object's members, in the order given
}

// scannedKV is one member of an object read by the fast scanner: a scalar of type t and text s
// as in jsonValue.
type scannedKV struct {
	key string
	s   string
	t   fastjson.Type
}

// Type returns the JSON type of v.
func (v *jsonValue) Type() fastjson.Type {
	if v.fj != nil {
		return v.fj.Type()
	}
	return v.t
}

// str returns a string value, unescaped; valid until the next line.
func (v *jsonValue) str() string {
	if v.fj != nil {
		return aliasString(v.fj.GetStringBytes())
	}
	return v.s
}

// MarshalTo appends v as fastjson's Value.MarshalTo writes it.
func (v *jsonValue) MarshalTo(dst []byte) []byte {
	if v.fj != nil {
		return v.fj.MarshalTo(dst)
	}
	if v.t != fastjson.TypeObject {
		return appendScannedScalar(dst, v.t, v.s)
	}
	dst = append(dst, '{')
	for i, kv := range v.kvs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, kv.key...)
		dst = append(dst, '"', ':')
		dst = appendScannedScalar(dst, kv.t, kv.s)
	}
	return append(dst, '}')
}

// appendScannedScalar appends a scalar of the fast scanner, of type t and text s, as fastjson
// writes it.
func appendScannedScalar(dst []byte, t fastjson.Type, s string) []byte {
	switch t {
	case fastjson.TypeString:
		// The scanner takes only strings without '"', '\\' and control characters, which
		// fastjson writes quoted as they are.
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	case fastjson.TypeNumber:
		return append(dst, s...)
	case fastjson.TypeTrue:
		return append(dst, "true"...)
	case fastjson.TypeFalse:
		return append(dst, "false"...)
	default:
		return append(dst, "null"...)
	}
}

// render renders a JSON value as a record string value (attribute values, log bodies):
//   - a string as it is (unescaped);
//   - an integer written without fraction or exponent as written ("-0" as "0"); any other
//     number that is a whole number of magnitude below 2^53 as a decimal integer ("1.0",
//     "1e3" → "1", "1000"); any other number as strconv.FormatFloat(f, 'g', -1, 64)
//     ("2.50" → "2.5", "1e300" → "1e+300"), or as written when it overflows float64;
//   - true and false as "true" and "false"; null as "";
//   - an object or array as compact JSON, keys in the order given and nested strings and
//     numbers as written.
//
// It reports false for a number or nested value that is not valid JSON. The result points into
// d.arena, the parser's buffer or the line: valid until the next line.
func (d *ndjsonDecoder) render(v *jsonValue) (string, bool) {
	switch v.Type() {
	case fastjson.TypeString:
		return v.str(), true
	case fastjson.TypeTrue:
		return "true", true
	case fastjson.TypeFalse:
		return "false", true
	case fastjson.TypeNull:
		return "", true
	case fastjson.TypeNumber:
		start := len(d.arena)
		d.arena = v.MarshalTo(d.arena)
		raw := aliasString(d.arena[start:])
		if !isJSONNumber(raw) {
			return "", false
		}
		if isPlainInteger(raw) && raw != "-0" {
			return raw, true
		}
		f, err := fastfloat.Parse(raw)
		if err != nil || math.IsInf(f, 0) {
			return raw, true
		}
		start = len(d.arena)
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			d.arena = strconv.AppendInt(d.arena, int64(f), 10)
		} else {
			d.arena = strconv.AppendFloat(d.arena, f, 'g', -1, 64)
		}
		return aliasString(d.arena[start:]), true
	default: // object, array
		start := len(d.arena)
		d.arena = v.MarshalTo(d.arena)
		// The parser is lenient; the stored text must be JSON. Parsing bounded the depth.
		if fastjson.ValidateBytes(d.arena[start:]) != nil {
			return "", false
		}
		return aliasString(d.arena[start:]), true
	}
}
