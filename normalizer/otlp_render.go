package normalizer

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/ingestdev/ingest/record"
)

// This file renders OTLP attribute values as strings; the rules are documented on otlpFormat.

// appendAttrs appends the entries of m, in order, with their values rendered into arena.
func (c *otlpConverter) appendAttrs(dst []record.KV, m pcommon.Map, arena *[]byte) []record.KV {
	for k, v := range m.All() {
		dst = append(dst, record.KV{Key: k, Value: c.render(v, arena)})
	}
	return dst
}

// render renders one attribute value (or a log body) as a string. A string value is returned
// as pdata holds it; any other rendering is appended to *arena and aliases it, so it is valid
// until the arena is reset.
func (c *otlpConverter) render(v pcommon.Value, arena *[]byte) string {
	start := len(*arena)
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt:
		*arena = strconv.AppendInt(*arena, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		*arena = appendDouble(*arena, v.Double())
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return "true"
		}
		return "false"
	case pcommon.ValueTypeBytes:
		*arena = appendBase64(*arena, v.Bytes())
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		*arena = c.appendJSON(*arena, v)
	default:
		return ""
	}
	return aliasString((*arena)[start:])
}

func appendBase64(dst []byte, b pcommon.ByteSlice) []byte {
	// ByteSlice hides its backing array; collect the bytes after the space their base64 will
	// take, then encode them into that space.
	n := b.Len()
	enc := base64.StdEncoding.EncodedLen(n)
	start := len(dst)
	dst = slices.Grow(dst, enc+n)[:start+enc]
	for i := 0; i < n; i++ {
		dst = append(dst, b.At(i))
	}
	base64.StdEncoding.Encode(dst[start:start+enc], dst[start+enc:])
	return dst[:start+enc]
}

// appendJSON appends v as compact JSON (see otlpFormat for the rules).
func (c *otlpConverter) appendJSON(dst []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendJSONString(dst, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return appendJSONDouble(dst, v.Double())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(dst, v.Bool())
	case pcommon.ValueTypeBytes:
		dst = append(dst, '"')
		return append(appendBase64(dst, v.Bytes()), '"')
	case pcommon.ValueTypeMap:
		return c.appendJSONMap(dst, v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		dst = append(dst, '[')
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = c.appendJSON(dst, s.At(i))
		}
		return append(dst, ']')
	}
	return append(dst, "null"...)
}

// appendJSONMap appends m as a JSON object, its entries in the order sent.
func (c *otlpConverter) appendJSONMap(dst []byte, m pcommon.Map) []byte {
	dst = append(dst, '{')
	first := true
	for k, v := range m.All() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = c.appendJSON(dst, v)
	}
	return append(dst, '}')
}

// appendDouble appends f as the NDJSON decoder renders a JSON number: a whole number of
// magnitude below 2^53 as a decimal integer (-0 as 0), any other value as
// strconv.FormatFloat(f, 'g', -1, 64).
func appendDouble(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// appendJSONDouble appends f as a JSON value: appendDouble's rendering, and NaN, +Inf and -Inf,
// which JSON cannot carry, as the strings "NaN", "+Inf" and "-Inf".
func appendJSONDouble(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		dst = append(dst, '"')
		dst = appendDouble(dst, f)
		return append(dst, '"')
	}
	return appendDouble(dst, f)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string with minimal escaping: \" \\ \b \f \n \r \t, other
// control characters as \u00XX, invalid UTF-8 as \ufffd; everything else as it is.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' && b < utf8.RuneSelf {
			i++
			continue
		}
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch b {
		case '\\', '"':
			dst = append(dst, '\\', b)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
