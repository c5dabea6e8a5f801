package normalizer

// This file is the JSON number grammar that the NDJSON decoder, its scanner and the time and
// duration grammars share: fastjson is lenient about numbers, the native schema is not.

// isJSONNumber reports whether s is a number of the JSON grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

// isPlainInteger reports whether s, a JSON number, has neither fraction nor exponent.
func isPlainInteger(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// isPlainDecimal reports whether s, a JSON number, has no exponent.
func isPlainDecimal(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}
