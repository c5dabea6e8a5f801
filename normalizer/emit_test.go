package normalizer

import (
	"testing"
	"time"
)

func TestEmitterTenant(t *testing.T) {
	if got := newTestEmitter(Config{}).tenant(); got != testTenant {
		t.Errorf("tenant() = %q, want %q", got, testTenant)
	}
}

func TestConvertCountsUnknownUnits(t *testing.T) {
	e := newTestEmitter(Config{})
	for _, tc := range []struct {
		value float64
		unit  string
		want  float64
		canon string
	}{
		{250, "ms", 2.5e8, "ns"},
		{50, "%", 0.5, "1"},
		{7, "furlong", 7, "furlong"},
		{2, "KiBy", 2048, "By"},
		{21.5, "Cel", 21.5, "Cel"},
		{3, "", 3, ""},
	} {
		v, u := e.convert(tc.value, tc.unit)
		if v != tc.want || u != tc.canon {
			t.Errorf("convert(%v, %q) = %v %q, want %v %q", tc.value, tc.unit, v, u, tc.want, tc.canon)
		}
	}
	if e.unknownUnits != 2 {
		t.Errorf("unknownUnits = %d, want 2 (furlong, Cel)", e.unknownUnits)
	}
	e.reset(e.cfg, testTenant, time.Now())
	if e.unknownUnits != 0 {
		t.Errorf("reset left unknownUnits at %d", e.unknownUnits)
	}
}
