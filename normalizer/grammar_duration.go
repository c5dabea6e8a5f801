package normalizer

import (
	"math"
	"strconv"
	"strings"
)

// This file is the grammar of the native schema's span durations: a number of nanoseconds, or a
// string of a number and a duration unit of the unit table (units.go). The functions are pure;
// the NDJSON decoder turns their failures into rejections (ndjson_record.go).

// parseDurationText converts a duration string, a non-negative JSON number, optional spaces and
// a duration unit of the unit table ("150ms", "1.5 s", "2min", "500µs"), to nanoseconds, not
// yet rounded: durationNanos finishes the conversion. It reports false for anything else: no or
// an unknown unit, a unit that is not a duration ("5KiBy"), a negative or non-JSON number, a
// number beyond the float64 range, or spaces anywhere but before the unit.
func parseDurationText(s string) (float64, bool) {
	// The unit is the trailing run of letters (and the bytes of "µ"); spaces may precede it.
	i := len(s)
	for i > 0 && (s[i-1]|0x20 >= 'a' && s[i-1]|0x20 <= 'z' || s[i-1] >= 0x80) {
		i--
	}
	num, unit := strings.TrimRight(s[:i], " "), s[i:]
	conv, known := LookupUnit(unit)
	f, err := strconv.ParseFloat(num, 64)
	if unit == "" || !known || conv.Canonical != "ns" || !isJSONNumber(num) || num[0] == '-' || err != nil {
		return 0, false
	}
	return f * conv.Factor, true
}

// durationNanos rounds ns, a duration in nanoseconds, to the nearest whole nanosecond (halves
// away from zero). It reports false unless the result is within [0, MaxInt64), that is
// non-negative and below about 292 years; NaN is outside.
func durationNanos(ns float64) (int64, bool) {
	ns = math.Round(ns)
	// float64(MaxInt64) rounds up to 2^63, which does not fit.
	if !(ns >= 0 && ns < math.MaxInt64) {
		return 0, false
	}
	return int64(ns), true
}
