package envoyhost_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ingestdev/ingest/edge/filter/envoyhost"
)

func TestMetricsMirrorEnvoyStats(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := envoyhost.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := m.DefineCounterMetric("ingest_edge_admitted_events")
	c.Increment(5)
	c.Increment(0)
	c.Increment(-3) // ignored by counters
	c.Record(2)     // adds
	again := m.DefineCounterMetric("ingest_edge_admitted_events")
	again.Increment(1)
	if c.Get() != 8 || m.Counter("ingest_edge_admitted_events") != 8 {
		t.Errorf("counter = %d, want 8 (shared by name, <= 0 ignored, Record adds)", c.Get())
	}
	g := m.DefineGaugeMetric("ingest_edge_inflight_bytes")
	g.Increment(100)
	g.Increment(-40)
	if g.Get() != 60 {
		t.Errorf("gauge = %d, want 60", g.Get())
	}
	g.Record(7)
	if m.Gauge("ingest_edge_inflight_bytes") != 7 {
		t.Errorf("gauge after Record(7) = %d", g.Get())
	}
	want := `
# HELP ingest_edge_filter_admitted_events_total Envoy Go filter counter "ingest_edge_admitted_events", defined by the filter's config parser.
# TYPE ingest_edge_filter_admitted_events_total counter
ingest_edge_filter_admitted_events_total 8
# HELP ingest_edge_filter_inflight_bytes Envoy Go filter gauge "ingest_edge_inflight_bytes", defined by the filter's config parser.
# TYPE ingest_edge_filter_inflight_bytes gauge
ingest_edge_filter_inflight_bytes 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if m.Counter("undefined") != 0 {
		t.Error("an undefined counter is not 0")
	}
}

type parserFunc func(*anypb.Any, api.ConfigCallbackHandler) (interface{}, error)

func (p parserFunc) Parse(a *anypb.Any, cb api.ConfigCallbackHandler) (interface{}, error) {
	return p(a, cb)
}
func (p parserFunc) Merge(parent, child interface{}) interface{} { return child }

func TestParseConfigPassesCallbacksOnlyWithMetrics(t *testing.T) {
	var gotNil bool
	p := parserFunc(func(_ *anypb.Any, cb api.ConfigCallbackHandler) (interface{}, error) {
		gotNil = cb == nil
		if cb != nil {
			cb.DefineCounterMetric("x").Increment(1)
		}
		return "ok", nil
	})
	m, _ := envoyhost.NewMetrics(nil)
	if v, err := envoyhost.ParseConfig(p, &anypb.Any{}, m); err != nil || v != "ok" || gotNil || m.Counter("x") != 1 {
		t.Errorf("filter level: %v, %v, nil callbacks %v", v, err, gotNil)
	}
	if _, err := envoyhost.ParseConfig(p, &anypb.Any{}, nil); err != nil || !gotNil {
		t.Errorf("route level: %v, nil callbacks %v; want untyped nil callbacks", err, gotNil)
	}
}

func TestParseConfigTurnsParserPanicsAndErrorsIntoErrors(t *testing.T) {
	m, _ := envoyhost.NewMetrics(nil)
	boom := parserFunc(func(_ *anypb.Any, cb api.ConfigCallbackHandler) (interface{}, error) {
		cb.DefineCounterMetric("same")
		cb.DefineGaugeMetric("same") // Envoy needs distinct names
		return nil, nil
	})
	if _, err := envoyhost.ParseConfig(boom, &anypb.Any{}, m); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("err = %v, want the parser's panic as an error", err)
	}
	bad := errors.New("bad config")
	if _, err := envoyhost.ParseConfig(parserFunc(func(*anypb.Any, api.ConfigCallbackHandler) (interface{}, error) {
		return nil, bad
	}), &anypb.Any{}, m); !errors.Is(err, bad) {
		t.Errorf("err = %v, want the parser's error", err)
	}
}

func TestPrometheusNames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		counter bool
		want    string
	}{
		{"ingest_edge_rejected.full", true, "ingest_edge_filter_rejected_full_total"},
		{"requests_total", true, "ingest_edge_filter_requests_total"},
		{"ingest_edge_inflight_bytes", false, "ingest_edge_filter_inflight_bytes"},
	} {
		if got := envoyhost.PrometheusName(tc.name, tc.counter); got != tc.want {
			t.Errorf("PrometheusName(%q, %v) = %q, want %q", tc.name, tc.counter, got, tc.want)
		}
	}
}
