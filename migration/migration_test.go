package migration

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/report"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2025, 3, 1, 14, 0, 0, 0, time.UTC)

func at(min int, sec int) time.Time {
	return t0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
}

func newAgg(t *testing.T, clk *fakeClock, cfg Config) *Aggregator {
	t.Helper()
	a, err := NewAggregator(cfg, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func rep(src, inst string, seq uint64, end time.Time, tenants map[string]report.Counts) *report.Report {
	return &report.Report{Source: src, Instance: inst, Seq: seq, Start: end.Add(-time.Second).UnixMilli(), End: end.UnixMilli(), Tenants: tenants}
}

func mustAdd(t *testing.T, a *Aggregator, r *report.Report, want Outcome) {
	t.Helper()
	got, err := a.Add(r)
	if got != want {
		t.Fatalf("Add: outcome %s (%v), want %s", got, err, want)
	}
	if (err == nil) != (want == OutcomeAccepted) {
		t.Fatalf("Add: err %v with outcome %s", err, got)
	}
}

func TestAggregatorSumsAcrossInstancesAndDedupesSeq(t *testing.T) {
	clk := &fakeClock{t: at(0, 0)}
	a := newAgg(t, clk, Config{})
	clk.set(at(5, 0))
	lat := make([]uint64, len(report.LatencyBucketsMs)+1)
	lat[2] = 3
	mustAdd(t, a, rep("edge", "e1", 1, at(1, 10), map[string]report.Counts{"acme": {V1AcceptedEvents: 10, V2Requests: 3, V2LatencyBuckets: lat}}), OutcomeAccepted)
	mustAdd(t, a, rep("edge", "e2", 1, at(1, 20), map[string]report.Counts{"acme": {V1AcceptedEvents: 5, V2Requests: 1, V2LatencyBuckets: lat}}), OutcomeAccepted)
	mustAdd(t, a, rep("edge", "e1", 1, at(1, 30), map[string]report.Counts{"acme": {V1AcceptedEvents: 100}}), OutcomeDuplicate)
	mustAdd(t, a, rep("edge", "e1", 3, at(1, 40), map[string]report.Counts{"acme": {V1AcceptedEvents: 1}}), OutcomeAccepted)
	mustAdd(t, a, rep("edge", "e1", 2, at(1, 41), map[string]report.Counts{"acme": {V1AcceptedEvents: 1}}), OutcomeAccepted) // late, not a duplicate
	mustAdd(t, a, rep("edge", "e1", 2, at(1, 42), map[string]report.Counts{"acme": {V1AcceptedEvents: 1}}), OutcomeDuplicate)

	bs := a.Buckets("acme")
	if len(bs) != 1 || !bs[0].Start.Equal(at(1, 0)) {
		t.Fatalf("buckets %+v, want one at 14:01", bs)
	}
	c := bs[0].Counts
	if c.V1AcceptedEvents != 17 || c.V2Requests != 4 || c.V2LatencyBuckets[2] != 6 {
		t.Fatalf("counts %+v, want 17 v1 accepted, 4 v2 requests, 6 in latency bucket 2", c)
	}
	if len(bs[0].Sources) != 1 || bs[0].Sources[0] != "edge" {
		t.Fatalf("sources %v", bs[0].Sources)
	}
}

func TestDedupeForgetsSeqsFarBehind(t *testing.T) {
	var in instance
	for _, s := range []uint64{0, 1, 5000} {
		if !in.mark(s) {
			t.Fatalf("seq %d refused", s)
		}
	}
	if in.mark(5000) || in.mark(5000-DedupeWindow) {
		t.Fatal("a seen or too old seq was accepted")
	}
	if !in.mark(5000 - DedupeWindow + 1) {
		t.Fatal("a seq inside the window was refused")
	}
}

func TestAggregatorBucketEdgesAndLandingLag(t *testing.T) {
	clk := &fakeClock{t: at(0, 0)}
	a := newAgg(t, clk, Config{LandingLag: 5 * time.Second})
	clk.set(at(10, 0))
	mustAdd(t, a, rep("edge", "e", 1, at(2, 0), map[string]report.Counts{"acme": {V1AcceptedEvents: 1}}), OutcomeAccepted)                        // exactly 14:02:00 → bucket 14:02
	mustAdd(t, a, rep("edge", "e", 2, at(2, 0).Add(-time.Millisecond), map[string]report.Counts{"acme": {V1AcceptedEvents: 2}}), OutcomeAccepted) // → 14:01
	mustAdd(t, a, rep("loader", "l", 1, at(2, 4), map[string]report.Counts{"acme": {LandedShadowEvents: 4}}), OutcomeAccepted)                    // 14:01:59 after the lag → 14:01
	mustAdd(t, a, rep("loader", "l", 2, at(2, 5), map[string]report.Counts{"acme": {LandedShadowEvents: 8}}), OutcomeAccepted)                    // 14:02:00 → 14:02
	bs := a.Buckets("acme")
	if len(bs) != 2 {
		t.Fatalf("buckets %+v", bs)
	}
	if bs[0].Counts.V1AcceptedEvents != 2 || bs[0].Counts.LandedShadowEvents != 4 || bs[1].Counts.V1AcceptedEvents != 1 || bs[1].Counts.LandedShadowEvents != 8 {
		t.Fatalf("buckets %+v", bs)
	}
}

func TestAggregatorHistoryIsBounded(t *testing.T) {
	clk := &fakeClock{t: at(0, 0)}
	a := newAgg(t, clk, Config{History: 30 * time.Minute, MaxTenants: 2, MaxInstances: 2})
	mustAdd(t, a, rep("edge", "e", 1, at(0, 30), map[string]report.Counts{"a": {V1AcceptedEvents: 1}, "b": {V1AcceptedEvents: 1}}), OutcomeAccepted)
	mustAdd(t, a, rep("edge", "e", 2, at(0, 31), map[string]report.Counts{"c": {V1AcceptedEvents: 1}}), OutcomeAccepted)
	if a.DroppedTenantCounts() != 1 || len(a.Buckets("c")) != 1 || a.Buckets("c")[0].Counts.V1AcceptedEvents != 0 {
		t.Fatalf("tenant c was tracked beyond max_tenants (dropped %d)", a.DroppedTenantCounts())
	}
	mustAdd(t, a, rep("edge", "f", 1, at(0, 32), nil), OutcomeAccepted)
	mustAdd(t, a, rep("edge", "g", 1, at(0, 33), nil), OutcomeTooManyInstances)

	clk.set(at(45, 0))
	mustAdd(t, a, rep("edge", "e", 3, at(10, 0), nil), OutcomeStale)
	mustAdd(t, a, rep("edge", "e", 4, at(47, 0), nil), OutcomeFuture)
	mustAdd(t, a, rep("edge", "e", 5, at(44, 0), map[string]report.Counts{"c": {V1AcceptedEvents: 7}}), OutcomeAccepted)
	if bs := a.Buckets("a"); len(bs) != 1 || bs[0].Counts.V1AcceptedEvents != 0 {
		t.Fatalf("old buckets kept: %+v", bs)
	}
	if bs := a.Buckets("c"); len(bs) != 1 || bs[0].Counts.V1AcceptedEvents != 7 {
		t.Fatalf("tenant c not tracked after the others expired: %+v", bs)
	}
	if _, err := a.Add(&report.Report{Source: "x"}); !errors.Is(err, report.ErrInvalid) {
		t.Fatalf("invalid report: %v", err)
	}
}

func TestAggregatorIgnoresUntrackedTenants(t *testing.T) {
	clk := &fakeClock{t: at(0, 0)}
	a, err := NewAggregator(Config{}, WithClock(clk.now), WithTracked(func(id string) bool { return id == "acme" }))
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, a, rep("edge", "e", 1, at(0, 30), map[string]report.Counts{"acme": {V1AcceptedEvents: 1}, "other": {V1AcceptedEvents: 1}}), OutcomeAccepted)
	if a.Buckets("other")[0].Counts.V1AcceptedEvents != 0 || a.Buckets("acme")[0].Counts.V1AcceptedEvents != 1 {
		t.Fatal("untracked tenant counted or tracked one not")
	}
}

// steady returns buckets from minute from to minute to (exclusive) with edge and loader
// reports, each with counts c.
func steady(from, to int, c report.Counts) []Bucket {
	var out []Bucket
	for m := from; m < to; m++ {
		out = append(out, Bucket{Start: at(m, 0), Counts: c, Sources: []string{"edge", "loader"}})
	}
	return out
}

func TestEvaluateGate(t *testing.T) {
	shadow := registry.Stage{Kind: registry.StageShadow}
	canary := registry.Stage{Kind: registry.StageCanary, Percent: 10}
	good := report.Counts{V1AcceptedEvents: 1000, LandedShadowEvents: 1000}
	with := func(bs []Bucket, m int, c report.Counts) []Bucket {
		for i := range bs {
			if bs[i].Start.Equal(at(m, 0)) {
				bs[i].Counts = c
			}
		}
		return bs
	}
	tests := []struct {
		name    string
		stage   registry.Stage
		since   time.Time
		now     time.Time
		buckets []Bucket
		pass    bool
		reasons []string // substrings, in order
	}{
		{"shadow passes with ten full minutes", shadow, at(0, 30), at(11, 20), steady(0, 12, good), true, nil},
		{"the open bucket and the landing lag are ignored", shadow, at(0, 30), at(11, 5),
			with(with(steady(0, 12, good), 11, report.Counts{V1AcceptedEvents: 5}), 10, report.Counts{V1AcceptedEvents: 1000, LandedShadowEvents: 1}), false,
			[]string{"only 9 of 10 minutes observed (before the stage began)"}},
		{"too few minutes since the stage change", shadow, at(7, 30), at(11, 20), steady(0, 12, good), false,
			[]string{"only 3 of 10 minutes observed (before the stage began)"}},
		{"a minute without loader reports is not observed", shadow, at(0, 0), at(11, 20),
			append(steady(0, 5, good), append([]Bucket{{Start: at(5, 0), Counts: good, Sources: []string{"edge"}}}, steady(6, 12, good)...)...), false,
			[]string{"only 9 of 10 minutes observed (no reports from loaders)"}},
		{"lost events fail with the worst minute", shadow, at(0, 0), at(11, 20),
			with(steady(0, 12, good), 3, report.Counts{V1AcceptedEvents: 1000, LandedShadowEvents: 920}), false,
			[]string{"99.2 % landed in 14:01–14:11 (9920 of 10000 events), below 99.9 %; worst 14:03: 92.0 % landed"}},
		{"5xx answers fail", canary, at(0, 0), at(11, 20),
			with(steady(0, 12, report.Counts{V2AcceptedEvents: 100, LandedLiveEvents: 100}), 5, report.Counts{V2AcceptedEvents: 100, LandedLiveEvents: 100, V2ServerErrors: 4, V2Requests: 9}), false,
			[]string{"4 answers 5xx from ingest-v2 in 14:05"}},
		{"canary compares v2 accepted with landed live, not v1", canary, at(0, 0), at(11, 20),
			steady(0, 12, report.Counts{V1AcceptedEvents: 900, V2AcceptedEvents: 100, LandedLiveEvents: 100}), true, nil},
		{"canary ignores landed shadow", canary, at(0, 0), at(11, 20),
			steady(0, 12, report.Counts{V2AcceptedEvents: 100, LandedShadowEvents: 100}), false, []string{"0.0 % landed"}},
		{"no traffic is no parity", shadow, at(0, 0), at(11, 20), steady(0, 12, report.Counts{}), false,
			[]string{"no events expected in 14:01–14:11"}},
		{"no data at all", shadow, at(0, 0), at(11, 20), nil, false, []string{"only 0 of 10 minutes observed (no reports from edges and loaders)"}},
		{"legacy needs no parity", registry.Stage{Kind: registry.StageLegacy}, time.Time{}, at(11, 20), nil, true, nil},
		{"v2 is the end", registry.Stage{Kind: registry.StageV2}, time.Time{}, at(11, 20), steady(0, 12, good), false, []string{"last stage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Evaluate(Input{Tenant: "acme", Stage: tt.stage, StageSince: tt.since, Started: t0, Now: tt.now, Buckets: tt.buckets})
			if p.Verdict.Pass != tt.pass {
				t.Fatalf("pass %v, want %v: %+v", p.Verdict.Pass, tt.pass, p.Verdict)
			}
			if len(p.Verdict.Reasons) != len(tt.reasons) {
				t.Fatalf("reasons %q, want %q", p.Verdict.Reasons, tt.reasons)
			}
			for i, want := range tt.reasons {
				if !strings.Contains(p.Verdict.Reasons[i], want) {
					t.Errorf("reason %d %q does not contain %q", i, p.Verdict.Reasons[i], want)
				}
			}
		})
	}
}

func TestEvaluateRows(t *testing.T) {
	lat := make([]uint64, len(report.LatencyBucketsMs)+1)
	lat[0], lat[4], lat[len(lat)-1] = 90, 5, 5 // p95 falls in the 100 ms bucket
	bs := steady(0, 3, report.Counts{V1AcceptedEvents: 200, LandedShadowEvents: 190, V2LatencyBuckets: lat})
	p := Evaluate(Input{Tenant: "acme", Stage: registry.Stage{Kind: registry.StageShadow}, Started: t0, Now: at(2, 30), Buckets: bs, Rows: 3})
	if len(p.Rows) != 3 || !p.Rows[0].Start.Equal(at(0, 0)) || p.Rows[2].Complete || !p.Rows[0].Complete {
		t.Fatalf("rows %+v", p.Rows)
	}
	r := p.Rows[0]
	if r.Expected != 200 || r.Landed != 190 || r.MismatchPercent == nil || *r.MismatchPercent != 5 || r.V2P95Ms == nil || *r.V2P95Ms != 100 {
		t.Fatalf("row %+v", r)
	}
	if p.ExpectedIs != "v1_accepted_events" || p.LandedIs != "landed_shadow_events" {
		t.Fatalf("columns %s %s", p.ExpectedIs, p.LandedIs)
	}
	lat[len(lat)-1] = 100
	if v, _ := p95(lat); v != 10000 {
		t.Fatalf("p95 above every bound = %v, want the largest bound", v)
	}
}

func TestAggregatorParityEndToEnd(t *testing.T) {
	clk := &fakeClock{t: at(0, 0)}
	a := newAgg(t, clk, Config{BucketWidth: 10 * time.Second, Gate: GateConfig{Window: 30 * time.Second}, LandingLag: time.Second, History: time.Hour})
	var seq uint64
	for s := 1; s <= 60; s++ {
		clk.set(at(0, s))
		seq++
		mustAdd(t, a, rep("edge", "e", seq, at(0, s), map[string]report.Counts{"acme": {V1AcceptedEvents: 10}}), OutcomeAccepted)
		mustAdd(t, a, rep("loader", "l", seq, at(0, s+1), map[string]report.Counts{"acme": {LandedShadowEvents: 10}}), OutcomeAccepted)
	}
	clk.set(at(1, 5))
	p := a.Parity("acme", registry.Stage{Kind: registry.StageShadow}, t0, 0)
	if !p.Verdict.Pass || p.Verdict.ObservedBuckets != 3 {
		t.Fatalf("verdict %+v\nrows %+v", p.Verdict, p.Rows)
	}
}

func TestStages(t *testing.T) {
	st := func(s string) registry.Stage {
		x, err := registry.ParseStage(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for from, want := range map[string]string{"legacy": "shadow", "shadow": "canary:10", "canary:50": "v2"} {
		if got, ok := NextStage(st(from)); !ok || got != st(want) {
			t.Errorf("NextStage(%s) = %s, want %s", from, got, want)
		}
	}
	if _, ok := NextStage(st("v2")); ok {
		t.Error("v2 has a next stage")
	}
	if got, _ := RollbackStage(st("v2"), st("canary:50")); got != st("canary:50") {
		t.Errorf("rollback from v2 after canary:50 = %s", got)
	}
	if got, _ := RollbackStage(st("shadow"), st("canary:10")); got != st("legacy") {
		t.Errorf("rollback from shadow after a rollback = %s", got)
	}
	if _, ok := RollbackStage(st("legacy"), registry.Stage{}); ok {
		t.Error("legacy has an earlier stage")
	}
	if e := Describe(st("canary:25")); e.V1Percent != 75 || e.V2Percent != 25 || e.V2Tables != "live" || e.MirrorToV2 {
		t.Errorf("Describe(canary:25) = %+v", e)
	}
	if e := Describe(st("shadow")); !e.MirrorToV2 || e.V2Tables != "shadow" || e.V1Percent != 100 {
		t.Errorf("Describe(shadow) = %+v", e)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := errors.Join(Config{BucketWidth: time.Millisecond}.Validate(),
		Config{Gate: GateConfig{Window: 90 * time.Second, MinLandedPercent: 120}, History: time.Minute}.Validate())
	for _, key := range []string{"bucket_width", "gate.window", "gate.min_landed_percent", "history"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not name %s", err, key)
		}
	}
}
