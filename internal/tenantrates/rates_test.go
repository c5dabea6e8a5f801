package tenantrates

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// scrapeOf is a successful scrape of target name (URL http://<name>/metrics) at t0+at.
func scrapeOf(t *testing.T, name string, at time.Duration, text string) Scrape {
	t.Helper()
	fams, err := Parse(strings.NewReader(strings.TrimSpace(text) + "\n"))
	if err != nil {
		t.Fatalf("fixture of %s: %v", name, err)
	}
	return Scrape{Target: Target{Name: name, URL: "http://" + name + "/metrics"}, Time: t0.Add(at), Families: fams}
}

func down(name string, at time.Duration) Scrape {
	return Scrape{Target: Target{Name: name, URL: "http://" + name + "/metrics"}, Time: t0.Add(at), Err: errors.New("connection refused")}
}

func near(got, want float64) bool { return math.Abs(got-want) < 1e-9 }

func checkRate(t *testing.T, what string, got, want float64) {
	t.Helper()
	if !near(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestRatesAreCounterIncreasesOverEachTargetsIntervalSummedOverReplicas(t *testing.T) {
	prev := []Scrape{
		scrapeOf(t, "edge", 0, `
ingest_edge_shed_total{tenant="acme",reason="err-ingest-tenant-rate-limited-events"} 10
ingest_edge_shed_total{tenant="acme",reason="err-ingest-edge-full"} 1
`),
		scrapeOf(t, "normalizer-0", 0, `
# TYPE ingest_normalizer_events_accepted_total counter
ingest_normalizer_events_accepted_total{tenant="acme",signal="log"} 100
ingest_normalizer_events_accepted_total{tenant="acme",signal="span"} 50
ingest_normalizer_events_rejected_total{tenant="acme",signal="event",reason="err-ingest-invalid-json"} 4
ingest_normalizer_shed_total{tenant="acme",reason="err-ingest-sink-full"} 0
`),
		scrapeOf(t, "normalizer-1", 0, `
ingest_normalizer_events_accepted_total{tenant="acme",signal="log"} 1000
`),
		scrapeOf(t, "sinkwriter", 0, `
ingest_sinkwriter_records_produced_total{tenant="acme"} 7
`),
	}
	cur := []Scrape{
		scrapeOf(t, "edge", 2*time.Second, `
ingest_edge_shed_total{tenant="acme",reason="err-ingest-tenant-rate-limited-events"} 30
ingest_edge_shed_total{tenant="acme",reason="err-ingest-edge-full"} 3
`),
		scrapeOf(t, "normalizer-0", 2*time.Second, `
# TYPE ingest_normalizer_events_accepted_total counter
ingest_normalizer_events_accepted_total{signal="log",tenant="acme"} 300
ingest_normalizer_events_accepted_total{tenant="acme",signal="span"} 50
ingest_normalizer_events_rejected_total{tenant="acme",signal="event",reason="err-ingest-invalid-json"} 8
ingest_normalizer_events_rejected_total{tenant="acme",signal="log",reason="err-ingest-invalid-json"} 2
ingest_normalizer_shed_total{tenant="acme",reason="err-ingest-sink-full"} 4
`),
		// Scraped a second later than the others: its own interval is 4 s.
		scrapeOf(t, "normalizer-1", 4*time.Second, `
ingest_normalizer_events_accepted_total{tenant="acme",signal="log"} 1400
`),
		scrapeOf(t, "sinkwriter", 2*time.Second, `
ingest_sinkwriter_records_produced_total{tenant="acme"} 207
`),
	}
	st := Compute(prev, cur, Options{})
	a := st.Tenants["acme"]
	if a == nil || len(st.Tenants) != 1 {
		t.Fatalf("tenants %v, want acme alone", st.Tenants)
	}
	checkRate(t, "accepted", a.AcceptedPerSec, 200.0/2+400.0/4)
	checkRate(t, "rejected invalid-json", a.RejectedPerSec["err-ingest-invalid-json"], 6.0/2)
	checkRate(t, "rejected total", a.RejectedTotal(), 3)
	checkRate(t, "produced", a.ProducedPerSec, 100)
	checkRate(t, "edge rate limited", a.ShedPerSec["err-ingest-tenant-rate-limited-events"], 10)
	tooMany, unavailable := a.ShedByStatus()
	checkRate(t, "429/s", tooMany, 10+2)  // rate limited at the edge, sink full
	checkRate(t, "503/s", unavailable, 1) // edge full
	if a.LagRecords != nil || a.LagSeconds != nil || a.VisibilitySeconds != nil {
		t.Errorf("lag and visibility without a loader: %v %v %v", a.LagRecords, a.LagSeconds, a.VisibilitySeconds)
	}
}

func TestACounterBelowItsPreviousValueIsAReset(t *testing.T) {
	prev := []Scrape{scrapeOf(t, "normalizer", 0, `ingest_normalizer_events_accepted_total{tenant="acme",signal="log"} 5000`)}
	cur := []Scrape{scrapeOf(t, "normalizer", time.Second, `ingest_normalizer_events_accepted_total{tenant="acme",signal="log"} 30`)}
	checkRate(t, "accepted after a restart", Compute(prev, cur, Options{}).Tenants["acme"].AcceptedPerSec, 30)
}

func TestTenantsAppearAtZeroAndDisappearWithTheirSeries(t *testing.T) {
	prev := []Scrape{scrapeOf(t, "normalizer", 0, `
ingest_normalizer_events_accepted_total{tenant="acme",signal="log"} 10
ingest_normalizer_events_accepted_total{tenant="gone",signal="log"} 10
ingest_normalizer_events_accepted_total{tenant="idle",signal="log"} 10
`)}
	cur := []Scrape{scrapeOf(t, "normalizer", 2*time.Second, `
ingest_normalizer_events_accepted_total{tenant="acme",signal="log"} 10
ingest_normalizer_events_accepted_total{tenant="idle",signal="log"} 10
ingest_normalizer_events_accepted_total{tenant="new",signal="log"} 8
ingest_normalizer_shed_total{tenant="newer",reason="err-ingest-normalizer-full"} 2
`)}
	st := Compute(prev, cur, Options{})
	if _, ok := st.Tenants["gone"]; ok {
		t.Error("a tenant whose series are gone is still there")
	}
	if idle, ok := st.Tenants["idle"]; !ok || idle.AcceptedPerSec != 0 {
		t.Errorf("idle tenant: %+v, want present at 0", idle)
	}
	checkRate(t, "new tenant (series started at zero)", st.Tenants["new"].AcceptedPerSec, 4)
	checkRate(t, "tenant in a family absent before", st.Tenants["newer"].ShedPerSec["err-ingest-normalizer-full"], 1)
}

func TestATargetDownIsNotFatalAndAddsNoRate(t *testing.T) {
	line := func(v string) string {
		return `ingest_normalizer_events_accepted_total{tenant="acme",signal="log"} ` + v + "\n" +
			`ingest_loader_topic_lag_records{topic="ingest.acme"} ` + v
	}
	// a: up, up. b: down now. c: down before, up now (gauges only: no interval for its rates).
	prev := []Scrape{scrapeOf(t, "a", 0, line("10")), scrapeOf(t, "b", 0, line("10")), down("c", 0)}
	cur := []Scrape{scrapeOf(t, "a", time.Second, line("20")), down("b", time.Second), scrapeOf(t, "c", time.Second, line("500"))}
	acme := Compute(prev, cur, Options{}).Tenants["acme"]
	checkRate(t, "accepted", acme.AcceptedPerSec, 10)
	checkRate(t, "lag records", *acme.LagRecords, 20+500)

	// Every target down: no tenants, no panic.
	if st := Compute(cur, []Scrape{down("a", 2*time.Second), down("b", 2*time.Second)}, Options{}); len(st.Tenants) != 0 {
		t.Errorf("every target down: %v", st.Tenants)
	}
	// A first round: gauges only.
	first := Compute(nil, cur, Options{}).Tenants["acme"]
	if first.AcceptedPerSec != 0 || *first.LagRecords != 520 {
		t.Errorf("first round: %+v", first)
	}
}

func TestLagIsSummedOverLoadersAndTheLargestSecondsOfTheTenantsTopics(t *testing.T) {
	cur := []Scrape{
		scrapeOf(t, "loader-0", 0, `
ingest_loader_topic_lag_records{topic="ingest.acme"} 100
ingest_loader_topic_lag_records{topic="ingest.acme.shadow"} 5
ingest_loader_topic_lag_records{topic="other.acme"} 1000
ingest_loader_topic_lag_seconds{topic="ingest.acme"} 1.5
ingest_loader_topic_lag_seconds{topic="ingest.acme.shadow"} 9
ingest_loader_topic_lag_seconds{topic="ingest."} 9
`),
		scrapeOf(t, "loader-1", 0, `
ingest_loader_topic_lag_records{topic="ingest.acme"} 20
ingest_loader_topic_lag_records{topic="ingest.globex"} 0
ingest_loader_topic_lag_seconds{topic="ingest.acme"} 3
ingest_loader_topic_lag_seconds{topic="ingest.globex"} 0
`),
	}
	st := Compute(nil, cur, Options{})
	acme, globex := st.Tenants["acme"], st.Tenants["globex"]
	checkRate(t, "acme lag records", *acme.LagRecords, 125)
	checkRate(t, "acme lag seconds (its shadow topic lags most)", *acme.LagSeconds, 9)
	if globex == nil || *globex.LagRecords != 0 || *globex.LagSeconds != 0 {
		t.Errorf("caught-up tenant: %+v, want lag 0 (not unknown)", globex)
	}
	if len(st.Tenants) != 2 {
		t.Errorf("tenants %v: topics outside the pattern must be ignored", st.Tenants)
	}

	// Another topic pattern.
	st = Compute(nil, cur, Options{TopicPattern: "other.{tenant}"})
	if l := st.Tenants["acme"]; l == nil || *l.LagRecords != 1000 || len(st.Tenants) != 1 {
		t.Errorf("pattern other.{tenant}: %v", st.Tenants)
	}
}

func TestVisibilityP95ComesFromTheBucketIncreasesOfTheInterval(t *testing.T) {
	hist := func(tenant string, b01, b05, b1, count int) string {
		var s strings.Builder
		for _, b := range []struct {
			le string
			n  int
		}{{"0.1", b01}, {"0.5", b05}, {"1", b1}, {"+Inf", count}} {
			s.WriteString(`ingest_loader_tenant_visibility_seconds_bucket{tenant="` + tenant + `",le="` + b.le + `"} ` + strconv.Itoa(b.n) + "\n")
		}
		s.WriteString(`ingest_loader_tenant_visibility_seconds_sum{tenant="` + tenant + `"} 1` + "\n")
		s.WriteString(`ingest_loader_tenant_visibility_seconds_count{tenant="` + tenant + `"} ` + strconv.Itoa(count) + "\n")
		return s.String()
	}
	const typ = "# TYPE ingest_loader_tenant_visibility_seconds histogram\n"
	prev := []Scrape{
		scrapeOf(t, "loader-0", 0, typ+hist("acme", 10, 20, 30, 30)+hist("idle", 0, 5, 5, 5)+hist("reset", 0, 0, 1000, 1000)),
		scrapeOf(t, "loader-1", 0, typ+hist("acme", 0, 0, 0, 0)),
	}
	cur := []Scrape{
		scrapeOf(t, "loader-0", time.Second, typ+hist("acme", 10, 50, 70, 70)+hist("idle", 0, 5, 5, 5)+hist("reset", 4, 4, 4, 4)+hist("_other", 1, 1, 1, 1)),
		scrapeOf(t, "loader-1", time.Second, typ+hist("acme", 0, 10, 40, 40)),
	}
	st := Compute(prev, cur, Options{})
	// acme's increases, summed: le 0.1: 0, 0.5: 40, 1: 80, +Inf: 80. Rank 76 lies in (0.5, 1].
	if v := st.Tenants["acme"].VisibilitySeconds; v == nil || !near(*v, 0.5+0.5*(76.0-40)/(80-40)) {
		t.Errorf("acme p95 = %v, want 0.95", deref(v))
	}
	if v := st.Tenants["idle"].VisibilitySeconds; v != nil {
		t.Errorf("p95 of a tenant without rows in the interval = %v, want none", *v)
	}
	// After a reset the counts are the increase: 4 rows under 0.1 s.
	if v := st.Tenants["reset"].VisibilitySeconds; v == nil || !near(*v, 0.1*0.95) {
		t.Errorf("reset p95 = %v, want 0.095", deref(v))
	}
	if _, ok := st.Tenants["_other"]; ok {
		t.Error("the loader's _other series is not a tenant")
	}
	if v := Compute(prev, cur, Options{Quantile: 0.5}).Tenants["acme"].VisibilitySeconds; v == nil || !near(*v, 0.1+0.4*(40.0-0)/(40-0)) {
		t.Errorf("acme p50 = %v, want 0.5", deref(v))
	}
}

func TestQuantileInterpolatesAsHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name string
		b    buckets
		q    float64
		want float64
		ok   bool
	}{
		{"first bucket from zero", buckets{1: 10, 2: 10, inf: 10}, 0.5, 0.5, true},
		{"middle bucket", buckets{1: 0, 2: 10, inf: 10}, 0.5, 1.5, true},
		{"in +Inf: the largest finite bound", buckets{1: 0, 2: 1, inf: 10}, 0.95, 2, true},
		{"non-positive first bound", buckets{-1: 10, inf: 10}, 0.5, -1, true},
		{"non-monotonic counts are raised", buckets{1: 10, 2: 5, 4: 20, inf: 20}, 0.75, 2 + 2*(15.0-10)/(20-10), true},
		{"empty", buckets{1: 0, inf: 0}, 0.95, 0, false},
		{"+Inf alone", buckets{inf: 5}, 0.95, 0, false},
		{"nothing", buckets{}, 0.95, 0, false},
	} {
		got, ok := tc.b.quantile(tc.q)
		if ok != tc.ok || (ok && !near(got, tc.want)) {
			t.Errorf("%s: quantile(%v) = %v, %v; want %v, %v", tc.name, tc.q, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTenantOfTopic(t *testing.T) {
	for _, tc := range []struct {
		pattern, topic, want string
		ok                   bool
	}{
		{"ingest.{tenant}", "ingest.acme", "acme", true},
		{"ingest.{tenant}", "ingest.acme.shadow", "acme", true},
		{"ingest.{tenant}", "ingest.", "", false},
		{"ingest.{tenant}", "other.acme", "", false},
		{"ingest.{tenant}", "ingest.Not Valid", "", false},
		{"t-{tenant}-v1", "t-acme-v1", "acme", true},
		{"no-placeholder", "no-placeholder", "", false},
	} {
		got, ok := tenantOfTopic(tc.pattern, tc.topic)
		if got != tc.want || ok != tc.ok {
			t.Errorf("tenantOfTopic(%q, %q) = %q, %v; want %q, %v", tc.pattern, tc.topic, got, ok, tc.want, tc.ok)
		}
	}
}

// TestMetricsOfAnotherTypeAreReadOrSkipped: an untyped counter (no TYPE line) is read, a
// histogram under a counter's name and a counter under the histogram's are skipped.
func TestMetricsOfAnotherTypeAreReadOrSkipped(t *testing.T) {
	prev := []Scrape{scrapeOf(t, "x", 0, `
# TYPE ingest_normalizer_events_accepted_total histogram
ingest_normalizer_events_accepted_total_bucket{tenant="a",le="+Inf"} 1
ingest_normalizer_events_accepted_total_count{tenant="a"} 1
ingest_normalizer_events_accepted_total_sum{tenant="a"} 1
ingest_loader_tenant_visibility_seconds{tenant="a"} 3
ingest_sinkwriter_records_produced_total{tenant="a"} 1
`)}
	cur := []Scrape{scrapeOf(t, "x", time.Second, `
# TYPE ingest_normalizer_events_accepted_total histogram
ingest_normalizer_events_accepted_total_bucket{tenant="a",le="+Inf"} 9
ingest_normalizer_events_accepted_total_count{tenant="a"} 9
ingest_normalizer_events_accepted_total_sum{tenant="a"} 1
ingest_loader_tenant_visibility_seconds{tenant="a"} 9
ingest_sinkwriter_records_produced_total{tenant="a"} 3
`)}
	a := Compute(prev, cur, Options{}).Tenants["a"]
	if a.AcceptedPerSec != 0 || a.VisibilitySeconds != nil || a.ProducedPerSec != 2 {
		t.Errorf("%+v", a)
	}
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}
