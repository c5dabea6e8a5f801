package normalizer

import "testing"

func TestJSONNumberGrammar(t *testing.T) {
	for _, tc := range []struct {
		s                          string
		number, plainInt, plainDec bool // isJSONNumber, isPlainInteger, isPlainDecimal
	}{
		{"0", true, true, true},
		{"-0", true, true, true},
		{"12", true, true, true},
		{"-12", true, true, true},
		{"1.5", true, false, true},
		{"1e3", true, false, false},
		{"1E+3", true, false, false},
		{"1.5e-3", true, false, false},
		{"12345678901234567890123", true, true, true},
		{"", false, true, true},
		{"-", false, true, true},
		{"01", false, true, true},
		{"+1", false, true, true},
		{"1.", false, false, true},
		{".5", false, false, true},
		{"1e", false, false, false},
		{"1e+", false, false, false},
		{"NaN", false, true, true},
		{"Infinity", false, true, true},
		{"1 ", false, true, true},
		{"0x10", false, true, true},
		{"--1", false, true, true},
	} {
		if got := isJSONNumber(tc.s); got != tc.number {
			t.Errorf("isJSONNumber(%q) = %v, want %v", tc.s, got, tc.number)
		}
		if got := isPlainInteger(tc.s); got != tc.plainInt {
			t.Errorf("isPlainInteger(%q) = %v, want %v", tc.s, got, tc.plainInt)
		}
		if got := isPlainDecimal(tc.s); got != tc.plainDec {
			t.Errorf("isPlainDecimal(%q) = %v, want %v", tc.s, got, tc.plainDec)
		}
	}
}
