package normalizer

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

func TestParseDurationText(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want float64 // ns; -1: not a duration
	}{
		{"150ms", 150e6},
		{"1.5s", 1.5e9},
		{"1.5 s", 1.5e9},
		{"2min", 120e9},
		{"250us", 250e3},
		{"0.5µs", 500},
		{"2 h", 7200e9},
		{"1d", 86400e9},
		{"1200ns", 1200},
		{"0ms", 0},
		{"1e3ms", 1e9},
		{"1E-3s", 1e6},
		{"300000d", 300000 * 86400e9}, // parses; durationNanos refuses it
		{"5KiBy", -1},                 // a unit, but not a duration
		{"5%", -1},
		{"5 parsecs", -1},
		{"150", -1}, // no unit
		{"ms", -1},  // no number
		{"", -1},
		{"-5ms", -1},
		{"+5ms", -1},
		{"05ms", -1},
		{"5.ms", -1},
		{".5ms", -1},
		{" 5ms", -1},
		{"5ms ", -1},
		{"5 MS", -1}, // units are case-sensitive
		{"5sec", -1},
		{"1e400ms", -1}, // beyond float64
		{"NaNms", -1},
		{"Infs", -1},
		{"5\tms", -1},
	} {
		got, ok := parseDurationText(tc.s)
		if want := tc.want >= 0; ok != want || (ok && got != tc.want) {
			t.Errorf("parseDurationText(%q) = %v, %v; want %v, %v", tc.s, got, ok, tc.want, want)
		}
	}
}

func TestDurationNanos(t *testing.T) {
	for _, tc := range []struct {
		ns   float64
		want int64
		ok   bool
	}{
		{0, 0, true},
		{1200, 1200, true},
		{0.4, 0, true},
		{0.5, 1, true}, // halves away from zero
		{1.5, 2, true},
		{2.5, 3, true},
		{-0.4, 0, true}, // rounds to -0, which is 0
		{-0.5, 0, false},
		{-1, 0, false},
		{9.2e18, 9.2e18, true},
		{math.MaxInt64, 0, false}, // 2^63 as float64
		{1e300, 0, false},
		{math.Inf(1), 0, false},
		{math.NaN(), 0, false},
	} {
		got, ok := durationNanos(tc.ns)
		if got != tc.want || ok != tc.ok {
			t.Errorf("durationNanos(%v) = %d, %v; want %d, %v", tc.ns, got, ok, tc.want, tc.ok)
		}
	}
}

// durationTextRE is the duration string grammar, written independently of parseDurationText.
var durationTextRE = regexp.MustCompile(`^((?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?) *(ns|us|µs|ms|s|min|h|d)$`)

// FuzzParseDurationText checks the duration string grammar on arbitrary text against a regular
// expression and strconv: the same strings accepted, the same nanoseconds. The seed corpus is
// testdata/fuzz/FuzzParseDurationText.
func FuzzParseDurationText(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDurationText(s)
		want, wantOK := 0.0, false
		if m := durationTextRE.FindStringSubmatch(s); m != nil {
			n, err := strconv.ParseFloat(m[1], 64)
			conv, _ := LookupUnit(m[2])
			want, wantOK = n*conv.Factor, err == nil
		}
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("parseDurationText(%q) = %v, %v; want %v, %v", s, got, ok, want, wantOK)
		}
		if ok && !(got >= 0) {
			t.Fatalf("parseDurationText(%q) = %v, not a non-negative number", s, got)
		}
	})
}
