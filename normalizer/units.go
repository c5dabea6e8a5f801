package normalizer

import "strings"

// Conversion converts a value to a canonical unit: canonical = value × Factor.
type Conversion struct {
	Factor    float64
	Canonical string
}

// unitTable is the one table of unit conversions (UCUM codes as OTLP uses them, plus common
// spellings). Canonical units: ns for durations, By for sizes, 1 for ratios, By/s for data rates.
// Keep README.md's unit table in step with it (TestREADMEUnitTableMatches checks).
var unitTable = map[string]Conversion{
	// Durations → ns.
	"ns": {1, "ns"}, "us": {1e3, "ns"}, "µs": {1e3, "ns"}, "ms": {1e6, "ns"}, "s": {1e9, "ns"},
	"min": {60e9, "ns"}, "h": {3600e9, "ns"}, "d": {86400e9, "ns"},
	// Sizes → bytes.
	"By": {1, "By"}, "B": {1, "By"},
	"KiBy": {1 << 10, "By"}, "MiBy": {1 << 20, "By"}, "GiBy": {1 << 30, "By"}, "TiBy": {1 << 40, "By"},
	"KiB": {1 << 10, "By"}, "MiB": {1 << 20, "By"}, "GiB": {1 << 30, "By"}, "TiB": {1 << 40, "By"},
	"kBy": {1e3, "By"}, "KBy": {1e3, "By"}, "MBy": {1e6, "By"}, "GBy": {1e9, "By"}, "TBy": {1e12, "By"},
	"kB": {1e3, "By"}, "KB": {1e3, "By"}, "MB": {1e6, "By"}, "GB": {1e9, "By"}, "TB": {1e12, "By"},
	"bit": {0.125, "By"}, "Kibit": {1 << 7, "By"}, "Mibit": {1 << 17, "By"}, "Gibit": {1 << 27, "By"},
	"kbit": {125, "By"}, "Kbit": {125, "By"}, "Mbit": {125e3, "By"}, "Gbit": {125e6, "By"},
	// Ratios.
	"%": {0.01, "1"}, "1": {1, "1"},
}

// LookupUnit returns the conversion of unit to its canonical unit. Dimensionless units ("", "1"
// and UCUM annotations such as "{requests}") are known and keep their name with factor 1. A rate
// "<size>/<duration>" converts to By/s. known is false for units outside the table; such values
// pass through unchanged.
func LookupUnit(unit string) (c Conversion, known bool) {
	if c, ok := unitTable[unit]; ok {
		return c, true
	}
	if unit == "" || (strings.HasPrefix(unit, "{") && strings.HasSuffix(unit, "}")) {
		return Conversion{1, unit}, true
	}
	if num, den, ok := strings.Cut(unit, "/"); ok {
		n, nok := unitTable[num]
		d, dok := unitTable[den]
		if nok && dok && n.Canonical == "By" && d.Canonical == "ns" {
			return Conversion{n.Factor / (d.Factor / 1e9), "By/s"}, true
		}
		if (strings.HasPrefix(den, "{") && strings.HasSuffix(den, "}")) && nok {
			return Conversion{n.Factor, n.Canonical + "/" + den}, true
		}
	}
	return Conversion{1, unit}, false
}
