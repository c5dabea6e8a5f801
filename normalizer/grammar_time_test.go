package normalizer

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestTimestampScale(t *testing.T) {
	for _, tc := range []struct {
		unit  string
		scale int64
		ok    bool
	}{
		{"s", 1e9, true}, {"ms", 1e6, true}, {"us", 1e3, true}, {"ns", 1, true},
		{"", 0, false}, {"h", 0, false}, {"min", 0, false}, {"µs", 0, false}, {"S", 0, false},
		{"MS", 0, false}, {"sec", 0, false}, {" s", 0, false},
	} {
		if scale, ok := timestampScale(tc.unit); scale != tc.scale || ok != tc.ok {
			t.Errorf("timestampScale(%q) = %d, %v; want %d, %v", tc.unit, scale, ok, tc.scale, tc.ok)
		}
	}
}

// TestParseRFC3339 checks the whole string grammar: the fast path, time.Parse behind it, and the
// range (0, MaxInt64] ns.
func TestParseRFC3339(t *testing.T) {
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	for _, tc := range []struct {
		s    string
		want int64
		err  error
	}{
		{"2026-11-21T11:00:00Z", 1795258800e9, nil},
		{"2026-11-21T12:30:00+01:30", 1795258800e9, nil},
		{"2026-11-21T05:00:00-06:00", 1795258800e9, nil},
		{"2026-11-21T11:00:00.123Z", 1795258800_123000000, nil},
		{"2026-11-21T11:00:00.123456789Z", 1795258800_123456789, nil},
		{"2026-11-21T11:00:00.1234567891Z", 1795258800_123456789, nil}, // 10 digits: time.Parse truncates
		{"2024-02-29T00:00:00Z", at("2024-02-29T00:00:00Z"), nil},
		{"1970-01-01T00:00:00.000000001Z", 1, nil},
		{"1970-01-01T00:00:01Z", 1e9, nil},
		{"2262-04-11T23:47:16.854775807Z", math.MaxInt64, nil},
		{"1970-01-01T01:00:00+01:00", 0, errTimeRange}, // the epoch: 0 means "not set"
		{"1970-01-01T00:00:00Z", 0, errTimeRange},
		{"1969-12-31T23:59:59Z", 0, errTimeRange},
		{"1960-01-01T00:00:00Z", 0, errTimeRange},
		{"2262-04-11T23:47:16.854775808Z", 0, errTimeRange},
		{"9999-12-31T23:59:59Z", 0, errTimeRange},
		{"yesterday", 0, errNotRFC3339},
		{"", 0, errNotRFC3339},
		{"2026-11-21T12:00:00", 0, errNotRFC3339},
		{"2026-11-21 12:00:00Z", 0, errNotRFC3339},
		{"2026-02-29T00:00:00Z", 0, errNotRFC3339},
		{"2026-11-21T24:00:00Z", 0, errNotRFC3339},
		{"2026-11-21T12:00:00+0100", 0, errNotRFC3339},
		{"2026-11-21T12:00:00.Z", 0, errNotRFC3339},
		{"2026-11-21T12:00:00,5Z", 1795262400_500000000, nil}, // time.Parse takes a comma too
		{"1795258800", 0, errNotRFC3339},
	} {
		got, err := parseRFC3339(tc.s)
		if got != tc.want || err != tc.err {
			t.Errorf("parseRFC3339(%q) = %d, %v; want %d, %v", tc.s, got, err, tc.want, tc.err)
		}
	}
}

// TestParseUnixTime checks numeric timestamps: exact for plain decimals (truncated below 1 ns),
// through float64 with an exponent, and the range and fraction errors.
func TestParseUnixTime(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		scale int64
		want  int64
		err   error
	}{
		{"1795258800", 1e9, 1795258800e9, nil},
		{"1795258800.123456789999", 1e9, 1795258800_123456789, nil}, // truncated below 1 ns
		{"1795258800.1", 1e9, 1795258800_100000000, nil},
		{"1795258800123.4567", 1e6, 1795258800_123456700, nil},
		{"1795258800123456.7", 1e3, 1795258800_123456700, nil},
		{"1795258800123456789", 1, 1795258800_123456789, nil},
		{"1.7952588e9", 1e9, 1795258800e9, nil},
		{"1795258800123456789e0", 1, 1795258800123456768, nil}, // exponent form goes through float64
		{"1", 1, 1, nil},
		{"9223372036854775807", 1, math.MaxInt64, nil},
		{"9223372036.854775807", 1e9, math.MaxInt64, nil},
		{"9223372036.854775808", 1e9, 0, errTimeRange},
		{"9223372036854775808", 1, 0, errTimeRange},
		{"99999999999999999999999", 1e9, 0, errTimeRange},
		{"9.3e18", 1, 0, errTimeRange},
		{"1e400", 1e9, 0, errTimeRange},
		{"0", 1e9, 0, errTimeRange},
		{"0.0000000001", 1e9, 0, errTimeRange},
		{"-1", 1e9, 0, errTimeRange},
		{"-1e3", 1, 0, errTimeRange},
		{"1.5", 1, 0, errFractionalNanos},
		{"1.5e0", 1, 0, errFractionalNanos},
	} {
		got, err := parseUnixTime(tc.raw, tc.scale)
		if got != tc.want || err != tc.err {
			t.Errorf("parseUnixTime(%s, %d) = %d, %v; want %d, %v", tc.raw, tc.scale, got, err, tc.want, tc.err)
		}
	}
}

// TestParseRFC3339FastAgreesWithTimeParse checks the fast path against time.Parse on fixed
// cases and on random times, offsets and fractions.
func TestParseRFC3339FastAgreesWithTimeParse(t *testing.T) {
	check := func(s string) {
		t.Helper()
		got, ok := parseRFC3339Fast(s)
		if !ok {
			return
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Errorf("parseRFC3339Fast(%q) = %d, but time.Parse fails: %v", s, got, err)
			return
		}
		if want := tm.UnixNano(); got != want {
			t.Errorf("parseRFC3339Fast(%q) = %d, time.Parse gives %d", s, got, want)
		}
	}
	mustFast := []string{
		"2026-11-21T12:00:00Z", "2026-11-21T12:00:00.5Z", "2026-11-21T12:00:00.123456789Z",
		"2026-11-21T12:00:00+23:59", "2026-11-21T12:00:00-23:59", "2024-02-29T00:00:00Z",
		"2000-02-29T23:59:59.999999999Z", "1970-01-01T00:00:01Z", "2262-04-11T23:47:15Z",
	}
	for _, s := range mustFast {
		if _, ok := parseRFC3339Fast(s); !ok {
			t.Errorf("parseRFC3339Fast(%q) falls back to time.Parse", s)
		}
		check(s)
	}
	for _, s := range []string{
		"2026-11-21T12:00:00", "2026-11-21 12:00:00Z", "2026-11-21t12:00:00z", "2026-13-01T00:00:00Z",
		"2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-11-31T00:00:00Z", "2026-11-21T24:00:00Z",
		"2026-11-21T12:60:00Z", "2026-11-21T12:00:60Z", "2026-11-21T12:00:00.Z", "2026-11-21T12:00:00.1234567890Z",
		"2026-11-21T12:00:00+24:00", "2026-11-21T12:00:00+01:60", "2026-11-21T12:00:00+0100", "1969-12-31T23:59:59Z",
		"1970-01-01T00:00:00Z", "2262-04-11T23:47:16.854775808Z", "9999-12-31T23:59:59Z", "+2026-11-21T12:00:00Z",
		"２026-11-21T12:00:00Z", "2026-11-21T12:00:00,5Z", "2026-1-21T12:00:00Z", "2026-11-21T12:00:00 Z",
	} {
		check(s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		tm := time.Unix(rng.Int64N(1<<33), rng.Int64N(1e9))
		zone := time.FixedZone("", (rng.IntN(48*60)-24*60+1)*60)
		layout := []string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000000Z07:00"}[rng.IntN(4)]
		if rng.IntN(3) == 0 {
			zone = time.UTC
		}
		check(tm.In(zone).Format(layout))
	}
}

// FuzzParseRFC3339 checks the string time grammar on arbitrary text against time.Parse: the same
// time where both accept it, errTimeRange exactly for the times outside (0, MaxInt64] ns, and
// errNotRFC3339 exactly where time.Parse fails. The seed corpus is testdata/fuzz/FuzzParseRFC3339.
func FuzzParseRFC3339(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseRFC3339(s)
		if fast, ok := parseRFC3339Fast(s); ok && (err != nil || fast != got) {
			t.Fatalf("parseRFC3339(%q) = %d, %v, but the fast path gave %d", s, got, err, fast)
		}
		tm, perr := time.Parse(time.RFC3339Nano, s)
		switch {
		case perr != nil:
			if err != errNotRFC3339 {
				t.Fatalf("parseRFC3339(%q) = %d, %v; time.Parse fails (%v), want errNotRFC3339", s, got, err, perr)
			}
		case tm.Before(minNativeTime) || tm.After(maxNativeTime):
			if err != errTimeRange {
				t.Fatalf("parseRFC3339(%q) = %d, %v; want errTimeRange for %s", s, got, err, tm)
			}
		case err != nil || got != tm.UnixNano():
			t.Fatalf("parseRFC3339(%q) = %d, %v; time.Parse gives %d", s, got, err, tm.UnixNano())
		}
	})
}

// FuzzParseUnixTime checks numeric timestamps on arbitrary JSON numbers: plain decimals against
// an exact big.Rat reference (truncated to whole nanoseconds), numbers with an exponent for
// their range only (they go through float64). The seed corpus is testdata/fuzz/FuzzParseUnixTime.
func FuzzParseUnixTime(f *testing.F) {
	units := []string{"s", "ms", "us", "ns"}
	f.Fuzz(func(t *testing.T, raw string, unit uint8) {
		if !isJSONNumber(raw) {
			return // the decoder only passes JSON numbers
		}
		scale, ok := timestampScale(units[int(unit)%len(units)])
		if !ok {
			t.Fatal("unit table")
		}
		got, err := parseUnixTime(raw, scale)
		if err == nil && got <= 0 {
			t.Fatalf("parseUnixTime(%s, %d) = %d, outside (0, MaxInt64]", raw, scale, got)
		}
		if !isPlainDecimal(raw) {
			if err != nil && err != errTimeRange && err != errFractionalNanos {
				t.Fatalf("parseUnixTime(%s, %d): unexpected error %v", raw, scale, err)
			}
			return
		}
		r, ok := new(big.Rat).SetString(raw)
		if !ok {
			t.Fatalf("big.Rat cannot read %s", raw)
		}
		r.Mul(r, new(big.Rat).SetInt64(scale))
		want := new(big.Int).Quo(r.Num(), r.Denom()) // truncated towards zero
		switch {
		case scale == 1 && strings.Contains(raw, "."):
			if err != errFractionalNanos {
				t.Fatalf("parseUnixTime(%s, ns) = %d, %v; want errFractionalNanos", raw, got, err)
			}
		case strings.HasPrefix(raw, "-") || want.Sign() <= 0 || !want.IsInt64():
			if err != errTimeRange {
				t.Fatalf("parseUnixTime(%s, %d) = %d, %v; want errTimeRange (exact %s)", raw, scale, got, err, want)
			}
		case err != nil || got != want.Int64():
			t.Fatalf("parseUnixTime(%s, %d) = %d, %v; want %s", raw, scale, got, err, want)
		}
	})
}
