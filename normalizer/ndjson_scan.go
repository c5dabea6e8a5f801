package normalizer

import "github.com/valyala/fastjson"

// scanLine is the fast path of decodeLine: a single pass over line that files the top-level
// fields (as visitField does for fastjson) when line is a JSON object of the simple shape nearly
// all events have:
//   - strings without escapes or control characters (keys included);
//   - numbers of the strict JSON grammar, true, false and null;
//   - objects only as the values of "attributes" and "resource", and only of such scalars;
//   - no arrays.
//
// It reports false for anything else, valid or not; decodeLine then starts over with fastjson,
// which decides, so the rules and messages for unusual lines live in one place. Everything the
// scanner takes, fastjson parses to the same values, so the result does not depend on the path
// (TestNDJSONScannerMatchesFastjson and FuzzNDJSON compare the two). The values alias line.
func (d *ndjsonDecoder) scanLine(line []byte) bool {
	s := aliasString(line)
	d.scanned = d.scanned[:0]
	i := skipJSONSpace(s, 0)
	if i == len(s) || s[i] != '{' {
		return false
	}
	i = skipJSONSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipJSONSpace(s, i+1) == len(s)
	}
	for {
		key, j, ok := scanString(s, i)
		if !ok {
			return false
		}
		if i = skipJSONSpace(s, j); i == len(s) || s[i] != ':' {
			return false
		}
		i = skipJSONSpace(s, i+1)
		var v jsonValue
		if i < len(s) && s[i] == '{' {
			if key != "attributes" && key != "resource" {
				return false
			}
			v.t = fastjson.TypeObject
			v.kvs, i, ok = d.scanObject(s, i+1)
		} else {
			v.t, v.s, i, ok = scanScalar(s, i)
		}
		if !ok {
			return false
		}
		d.file(key, &v)
		if i = skipJSONSpace(s, i); i == len(s) {
			return false
		}
		switch s[i] {
		case ',':
			i = skipJSONSpace(s, i+1)
		case '}':
			return skipJSONSpace(s, i+1) == len(s)
		default:
			return false
		}
	}
}

// scanObject scans the members of a flat object whose '{' ends before s[i]. It returns the
// members and the index after the '}'.
func (d *ndjsonDecoder) scanObject(s string, i int) ([]scannedKV, int, bool) {
	start := len(d.scanned)
	i = skipJSONSpace(s, i)
	if i < len(s) && s[i] == '}' {
		return nil, i + 1, true
	}
	for {
		key, j, ok := scanString(s, i)
		if !ok {
			return nil, 0, false
		}
		if i = skipJSONSpace(s, j); i == len(s) || s[i] != ':' {
			return nil, 0, false
		}
		t, str, j, ok := scanScalar(s, skipJSONSpace(s, i+1))
		if !ok {
			return nil, 0, false
		}
		d.scanned = append(d.scanned, scannedKV{key: key, s: str, t: t})
		if i = skipJSONSpace(s, j); i == len(s) {
			return nil, 0, false
		}
		switch s[i] {
		case ',':
			i = skipJSONSpace(s, i+1)
		case '}':
			// Later objects append after this one's members; a reallocation leaves them in place.
			return d.scanned[start:len(d.scanned):len(d.scanned)], i + 1, true
		default:
			return nil, 0, false
		}
	}
}

// scanScalar scans a string, number, true, false or null at s[i]; it returns its type and text
// (as in jsonValue) and the index after it. Objects and arrays are not scalars.
func scanScalar(s string, i int) (fastjson.Type, string, int, bool) {
	if i == len(s) {
		return 0, "", 0, false
	}
	switch c := s[i]; {
	case c == '"':
		str, j, ok := scanString(s, i)
		return fastjson.TypeString, str, j, ok
	case c == 't' && len(s)-i >= len("true") && s[i:i+len("true")] == "true":
		return fastjson.TypeTrue, "", i + len("true"), true
	case c == 'f' && len(s)-i >= len("false") && s[i:i+len("false")] == "false":
		return fastjson.TypeFalse, "", i + len("false"), true
	case c == 'n' && len(s)-i >= len("null") && s[i:i+len("null")] == "null":
		return fastjson.TypeNull, "", i + len("null"), true
	case c == '-' || '0' <= c && c <= '9':
		// The same token fastjson's number parser takes; then it must be a JSON number.
		j := i
		for j < len(s) && isNumberByte(s[j]) {
			j++
		}
		if !isJSONNumber(s[i:j]) {
			return 0, "", 0, false
		}
		return fastjson.TypeNumber, s[i:j], j, true
	}
	return 0, "", 0, false
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'
}

// scanString scans a string that starts at s[i] and holds no escapes or control characters. It
// returns its text and the index after its closing quote.
func scanString(s string, i int) (string, int, bool) {
	if i == len(s) || s[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

// skipJSONSpace returns the index of the first byte at or after i that is not JSON white space.
func skipJSONSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}
