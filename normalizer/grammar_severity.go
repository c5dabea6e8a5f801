package normalizer

import "strconv"

// This file is the grammar of the native schema's log severities: a name or an OTLP severity
// number. The functions are pure; the NDJSON decoder turns their failures into rejections
// (ndjson_record.go).

// parseSeverityText maps a severity name to its OTLP severity number: TRACE 1, DEBUG 5, INFO 9,
// WARN (or WARNING) 13, ERROR 17, FATAL 21, in any ASCII case, optionally followed by 2, 3 or 4
// to add 1..3 ("info2" is 10, "FATAL4" 24; not "WARNING2"). It reports false for anything else.
func parseSeverityText(text string) (uint8, bool) {
	if text == "" || len(text) > len("WARNING") {
		return 0, false
	}
	var buf [len("WARNING")]byte
	up := buf[:len(text)]
	for i := 0; i < len(text); i++ {
		c := text[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	if n := severityBase(string(up)); n > 0 {
		return n, true
	}
	last := up[len(up)-1]
	if last < '2' || last > '4' {
		return 0, false
	}
	if n := severityBase(string(up[:len(up)-1])); n > 0 {
		return n + last - '1', true
	}
	return 0, false
}

// severityBase returns the OTLP severity number of an upper-case short name, or 0: TRACE 1,
// DEBUG 5, INFO 9, WARN (or WARNING) 13, ERROR 17, FATAL 21. "NAME2".."NAME4" add 1..3.
func severityBase(name string) uint8 {
	switch name {
	case "TRACE":
		return 1
	case "DEBUG":
		return 5
	case "INFO":
		return 9
	case "WARN", "WARNING":
		return 13
	case "ERROR":
		return 17
	case "FATAL":
		return 21
	}
	return 0
}

// parseSeverityNumber converts raw, a JSON number as written, to an OTLP severity number. Only
// the decimal integers 1..24 are severities ("9.0" and "1e1" are not).
func parseSeverityNumber(raw string) (uint8, bool) {
	n, err := strconv.ParseUint(raw, 10, 8)
	if err != nil || n < 1 || n > 24 {
		return 0, false
	}
	return uint8(n), true
}
