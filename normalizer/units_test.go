package normalizer

import (
	"math"
	"testing"
)

func TestLookupUnit(t *testing.T) {
	for _, tc := range []struct {
		unit      string
		factor    float64
		canonical string
		known     bool
	}{
		// Durations → ns.
		{"ns", 1, "ns", true},
		{"us", 1e3, "ns", true},
		{"µs", 1e3, "ns", true},
		{"ms", 1e6, "ns", true},
		{"s", 1e9, "ns", true},
		{"min", 60e9, "ns", true},
		{"h", 3600e9, "ns", true},
		{"d", 86400e9, "ns", true},
		// Sizes → bytes, binary and decimal prefixes, UCUM and common spellings.
		{"By", 1, "By", true},
		{"B", 1, "By", true},
		{"KiBy", 1024, "By", true},
		{"MiBy", 1 << 20, "By", true},
		{"GiBy", 1 << 30, "By", true},
		{"TiBy", 1 << 40, "By", true},
		{"KiB", 1024, "By", true},
		{"GiB", 1 << 30, "By", true},
		{"kBy", 1e3, "By", true},
		{"KBy", 1e3, "By", true},
		{"MBy", 1e6, "By", true},
		{"GBy", 1e9, "By", true},
		{"TBy", 1e12, "By", true},
		{"kB", 1e3, "By", true},
		{"MB", 1e6, "By", true},
		{"TB", 1e12, "By", true},
		// Bits → bytes.
		{"bit", 0.125, "By", true},
		{"Kibit", 128, "By", true},
		{"Mibit", 1 << 17, "By", true},
		{"Gibit", 1 << 27, "By", true},
		{"kbit", 125, "By", true},
		{"Kbit", 125, "By", true},
		{"Mbit", 125e3, "By", true},
		{"Gbit", 125e6, "By", true},
		// Ratios.
		{"%", 0.01, "1", true},
		{"1", 1, "1", true},
		// Dimensionless: empty and UCUM annotations keep their name.
		{"", 1, "", true},
		{"{requests}", 1, "{requests}", true},
		{"{}", 1, "{}", true},
		// Data rates: size per duration → By/s.
		{"By/s", 1, "By/s", true},
		{"KiBy/s", 1024, "By/s", true},
		{"MiBy/s", 1 << 20, "By/s", true},
		{"MBy/s", 1e6, "By/s", true},
		{"bit/s", 0.125, "By/s", true},
		{"Gbit/s", 125e6, "By/s", true},
		{"By/ms", 1e3, "By/s", true},
		{"KiBy/min", 1024.0 / 60, "By/s", true},
		// Size per annotation.
		{"By/{request}", 1, "By/{request}", true},
		{"KiBy/{batch}", 1024, "By/{batch}", true},
		{"ms/{request}", 1e6, "ns/{request}", true},
		// Unknown: passes through unchanged with factor 1.
		{"Cel", 1, "Cel", false},
		{"furlong", 1, "furlong", false},
		{"MS", 1, "MS", false},
		{"sec", 1, "sec", false},
		{"{requests}/s", 1, "{requests}/s", false},
		{"s/By", 1, "s/By", false},
		{"By/", 1, "By/", false},
		{"/s", 1, "/s", false},
		{"{unclosed", 1, "{unclosed", false},
		{"ms ", 1, "ms ", false},
	} {
		c, known := LookupUnit(tc.unit)
		if known != tc.known || c.Canonical != tc.canonical || math.Abs(c.Factor-tc.factor) > 1e-12*tc.factor {
			t.Errorf("LookupUnit(%q) = %v %q known=%v, want %v %q known=%v", tc.unit, c.Factor, c.Canonical, known, tc.factor, tc.canonical, tc.known)
		}
	}
}

// FuzzLookupUnit checks the unit grammar on arbitrary unit strings: an unknown unit passes
// through unchanged with factor 1; a known one has a positive, finite factor and a canonical
// unit that is itself known with factor 1. The seed corpus is testdata/fuzz/FuzzLookupUnit.
func FuzzLookupUnit(f *testing.F) {
	f.Fuzz(func(t *testing.T, unit string) {
		c, known := LookupUnit(unit)
		if !known {
			if c != (Conversion{1, unit}) {
				t.Fatalf("LookupUnit(%q) = %+v for an unknown unit, want it unchanged with factor 1", unit, c)
			}
			return
		}
		if !(c.Factor > 0) || math.IsInf(c.Factor, 0) {
			t.Fatalf("LookupUnit(%q) factor %v", unit, c.Factor)
		}
		if cc, ok := LookupUnit(c.Canonical); !ok || cc.Factor != 1 || cc.Canonical != c.Canonical {
			t.Fatalf("LookupUnit(%q) = %+v, whose canonical unit converts as %+v, %v", unit, c, cc, ok)
		}
	})
}
