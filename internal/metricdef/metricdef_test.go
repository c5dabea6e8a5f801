package metricdef_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ingestdev/ingest/internal/metricdef"
)

func TestRegisterRegistersEveryCollectorAndJoinsRefusals(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := metricdef.CounterVec("test_things_total", "Things.", "kind")
	g := metricdef.Gauge("test_level", "Level.")
	if err := metricdef.Register(reg, c, g); err != nil {
		t.Fatalf("Register: %v", err)
	}
	c.WithLabelValues("a").Inc()
	g.Set(2)
	if n := testutil.CollectAndCount(reg); n != 2 {
		t.Errorf("registry collects %d metrics, want 2", n)
	}

	// Registering the same names again fails for each, and the error says so for both.
	err := metricdef.Register(reg, metricdef.CounterVec("test_things_total", "Things.", "kind"), metricdef.Gauge("test_level", "Level."))
	if err == nil {
		t.Fatal("registering duplicate names succeeded")
	}
	if got := strings.Count(err.Error(), "duplicate metrics collector registration attempted"); got != 2 {
		t.Errorf("error reports %d duplicates, want 2: %v", got, err)
	}
}

func TestRegisterWithoutRegistererDoesNothing(t *testing.T) {
	if err := metricdef.Register(nil, metricdef.Counter("test_total", "Test.")); err != nil {
		t.Errorf("Register(nil) = %v, want nil", err)
	}
}

func TestHistogramTakesTheGivenBuckets(t *testing.T) {
	h := metricdef.HistogramVec("test_seconds", "Seconds.", []float64{1, 2}, "op")
	h.WithLabelValues("x").Observe(1.5)
	want := `
# HELP test_seconds Seconds.
# TYPE test_seconds histogram
test_seconds_bucket{op="x",le="1"} 0
test_seconds_bucket{op="x",le="2"} 1
test_seconds_bucket{op="x",le="+Inf"} 1
test_seconds_sum{op="x"} 1.5
test_seconds_count{op="x"} 1
`
	if err := testutil.CollectAndCompare(h, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
