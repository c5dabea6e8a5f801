package normalizer

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// This file is the grammar of the native schema's timestamps: an RFC 3339 string, or a number
// of units ("ts_unit") since the unix epoch. The functions are pure; the NDJSON decoder turns
// their errors into rejections (ndjson_record.go).

// Timestamps must be unix nanoseconds in (0, MaxInt64]: 0 means "not set" to emit, and the
// emitter's age arithmetic must not overflow.
var (
	minNativeTime = time.Unix(0, 1).UTC()
	maxNativeTime = time.Unix(0, math.MaxInt64).UTC()
)

type timeError string

func (e timeError) Error() string { return string(e) }

// Errors of the time grammar.
const (
	errNotRFC3339      = timeError("not an RFC 3339 time")
	errFractionalNanos = timeError("fractional nanoseconds")
	errTimeRange       = timeError("time out of range")
)

// timestampScale returns the nanoseconds in one ts_unit: "s", "ms", "us" or "ns". It reports
// false for any other unit (units are case-sensitive; "µs" is not one).
func timestampScale(unit string) (int64, bool) {
	switch unit {
	case "s":
		return 1e9, true
	case "ms":
		return 1e6, true
	case "us":
		return 1e3, true
	case "ns":
		return 1, true
	}
	return 0, false
}

// parseRFC3339 converts s, an RFC 3339 time as time.RFC3339Nano parses it, to unix nanoseconds.
// It returns errNotRFC3339 for text that is not such a time and errTimeRange for a time outside
// (0, MaxInt64] ns (1970-01-01T00:00:00.000000001Z to 2262-04-11T23:47:16.854775807Z). The
// common forms take parseRFC3339Fast, which does not allocate.
func parseRFC3339(s string) (int64, error) {
	if ns, ok := parseRFC3339Fast(s); ok {
		return ns, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, errNotRFC3339
	}
	if t.Before(minNativeTime) || t.After(maxNativeTime) {
		return 0, errTimeRange
	}
	return t.UnixNano(), nil
}

// parseRFC3339Fast converts the common RFC 3339 forms, "YYYY-MM-DDTHH:MM:SS", an optional
// fraction of 1 to 9 digits, and "Z" or "±HH:MM", to unix nanoseconds without allocating. It
// reports false for anything else, and for times outside (0, MaxInt64] ns, leaving those to
// time.Parse; where it reports true it agrees with time.Parse(time.RFC3339Nano, s).
func parseRFC3339Fast(s string) (int64, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	year, month, day := digits(s[0:4]), digits(s[5:7]), digits(s[8:10])
	hour, minute, sec := digits(s[11:13]), digits(s[14:16]), digits(s[17:19])
	if year < 1970 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return 0, false
	}
	rest := s[19:]
	var nanos int64
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			i++
		}
		if i == 1 || i > 10 {
			return 0, false
		}
		n := digits(rest[1:i])
		for range 10 - i {
			n *= 10
		}
		nanos, rest = n, rest[i:]
	}
	var offset int64
	switch {
	case rest == "Z":
	case len(rest) == len("+07:00") && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, m := digits(rest[1:3]), digits(rest[4:6])
		if h < 0 || h > 23 || m < 0 || m > 59 {
			return 0, false
		}
		offset = (h*60 + m) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	secs := daysSinceEpoch(year, month, day)*86400 + hour*3600 + minute*60 + sec - offset
	// Stay clear of both ends of the range; time.Parse decides the few times near them.
	if secs <= 0 || secs >= math.MaxInt64/int64(time.Second) {
		return 0, false
	}
	return secs*1e9 + nanos, true
}

// digits returns the decimal number s (at most 18 digits), or -1 if s holds a non-digit.
func digits(s string) int64 {
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// daysIn returns the number of days of month in year (proleptic Gregorian).
func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch returns the days from 1970-01-01 to the date (year ≥ 0), after Howard
// Hinnant's days_from_civil.
func daysSinceEpoch(year, month, day int64) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400
	yoe := year - era*400
	mp := (month + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// parseUnixTime converts raw, a JSON number of units of scale nanoseconds since the unix epoch,
// to unix nanoseconds. Plain decimals are converted exactly (digits below a nanosecond are
// truncated); numbers with an exponent go through float64. The result lies in (0, MaxInt64]:
// outside it the error is errTimeRange. With scale 1 (ts_unit "ns") a fraction is
// errFractionalNanos.
func parseUnixTime(raw string, scale int64) (int64, error) {
	if !isPlainDecimal(raw) {
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil && !math.IsInf(f, 0) {
			return 0, errTimeRange
		}
		ns := f * float64(scale)
		if scale == 1 && ns != math.Trunc(ns) {
			return 0, errFractionalNanos
		}
		// float64(MaxInt64) rounds up to 2^63, which does not fit.
		if !(ns >= 1 && ns < math.MaxInt64) {
			return 0, errTimeRange
		}
		return int64(ns), nil
	}
	if raw[0] == '-' {
		return 0, errTimeRange
	}
	intPart, frac, _ := strings.Cut(raw, ".")
	if frac != "" && scale == 1 {
		return 0, errFractionalNanos
	}
	if len(intPart) > 19 {
		return 0, errTimeRange
	}
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || n > math.MaxInt64/scale {
		return 0, errTimeRange
	}
	ns := n * scale
	// The fraction in nanoseconds: as many digits as scale has zeros, padded with zeros.
	var fracNs int64
	for s := scale / 10; s > 0; s /= 10 {
		var digit int64
		if frac != "" {
			digit, frac = int64(frac[0]-'0'), frac[1:]
		}
		fracNs += digit * s
	}
	if ns > math.MaxInt64-fracNs {
		return 0, errTimeRange
	}
	ns += fracNs
	if ns <= 0 {
		return 0, errTimeRange
	}
	return ns, nil
}
