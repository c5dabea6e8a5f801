package normalizer

import (
	"strings"
	"testing"
)

func TestParseSeverityText(t *testing.T) {
	for text, want := range map[string]uint8{
		"TRACE": 1, "trace2": 2, "Trace3": 3, "Trace4": 4, "DEBUG": 5, "debug3": 7, "INFO": 9, "info": 9, "Info2": 10,
		"WARN": 13, "warn": 13, "Warning": 13, "WARNING": 13, "WARN4": 16, "ERROR": 17, "error2": 18, "FATAL": 21,
		"fatal3": 23, "fatal4": 24, "iNfO": 9,
		// Not severities.
		"": 0, "LOUD": 0, "info5": 0, "info1": 0, "info0": 0, "warning2": 0, "INFOO": 0, "inf": 0, "info ": 0,
		" info": 0, "ınfo": 0, "ＩＮＦＯ": 0, "INFORMATION": 0, "2": 0, "9": 0, "E": 0, "ERR": 0, "CRITICAL": 0,
	} {
		got, ok := parseSeverityText(text)
		if got != want || ok != (want > 0) {
			t.Errorf("parseSeverityText(%q) = %d, %v; want %d, %v", text, got, ok, want, want > 0)
		}
	}
}

func TestParseSeverityNumber(t *testing.T) {
	for raw, want := range map[string]uint8{
		"1": 1, "9": 9, "24": 24,
		// Not severities: out of range, not a decimal integer.
		"0": 0, "25": 0, "255": 0, "256": 0, "-1": 0, "9.5": 0, "9.0": 0, "1e1": 0, "": 0,
	} {
		got, ok := parseSeverityNumber(raw)
		if got != want || ok != (want > 0) {
			t.Errorf("parseSeverityNumber(%q) = %d, %v; want %d, %v", raw, got, ok, want, want > 0)
		}
	}
}

// severityNames is every severity name in upper case, with its number: the grammar spelled out.
func severityNames() map[string]uint8 {
	m := map[string]uint8{"WARNING": 13}
	for i, name := range []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"} {
		base := uint8(1 + 4*i)
		m[name] = base
		for k := uint8(1); k <= 3; k++ {
			m[name+string(rune('1'+k))] = base + k
		}
	}
	return m
}

// FuzzParseSeverityText checks the severity name grammar on arbitrary text against the list of
// every name (ASCII letters in any case). The seed corpus is testdata/fuzz/FuzzParseSeverityText.
func FuzzParseSeverityText(f *testing.F) {
	names := severityNames()
	f.Fuzz(func(t *testing.T, text string) {
		got, ok := parseSeverityText(text)
		upper := strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' {
				return r - 'a' + 'A'
			}
			return r
		}, text)
		want, wantOK := names[upper]
		if got != want || ok != wantOK {
			t.Fatalf("parseSeverityText(%q) = %d, %v; want %d, %v", text, got, ok, want, wantOK)
		}
	})
}
