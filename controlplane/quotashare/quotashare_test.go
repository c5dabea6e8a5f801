package quotashare

import (
	"math"
	"testing"
	"time"

	"github.com/ingestdev/ingest/migration/report"
)

// quotas: acme 1000 events/s; free has no quota.
func quotas(tenant string) (float64, float64, bool) {
	switch tenant {
	case "acme":
		return 1000, 0, true
	case "free":
		return 0, 0, true
	}
	return 0, 0, false
}

// edgeReport is one second of an edge's traffic for acme: admitted and refused requests of
// 10 events each.
func edgeReport(instance string, end time.Time, admitted, refused uint64) *report.Report {
	r := &report.Report{Source: report.SourceEdge, Instance: instance, Start: end.Add(-time.Second).UnixMilli(), End: end.UnixMilli(),
		Tenants: map[string]report.Counts{}}
	if admitted+refused > 0 {
		r.Tenants["acme"] = report.Counts{AdmittedRequests: admitted, AdmittedEvents: 10 * admitted, AdmittedBytes: 1000 * admitted, RefusedRequests: refused}
		r.Tenants["free"] = report.Counts{AdmittedRequests: 5, AdmittedEvents: 50}
	}
	return r
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// TestSharesFollowDemandAndSumToOne: clients offer acme 3× its quota, 90% at edge a and 10%
// at b, nothing at c. Each edge admits its share; after a few reports the shares are a
// water-filling of the demand: b gets what it asks (300/s), c its floor, a the rest; they sum
// to 1, so the fleet admits the quota. The tenant without a quota gets no share.
func TestSharesFollowDemandAndSumToOne(t *testing.T) {
	a := New(Config{}, quotas)
	now := time.Unix(1_800_000_000, 0)
	offered := map[string]float64{"a": 2700, "b": 300, "c": 0} // events/s
	share := map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3}
	for round := range 6 {
		now = now.Add(time.Second)
		for _, id := range []string{"a", "b", "c"} {
			adm := math.Min(offered[id], share[id]*1000) / 10
			ref := offered[id]/10 - adm
			rep := a.Observe(edgeReport(id, now, uint64(adm), uint64(ref)), now)
			if _, ok := rep.Shares["free"]; ok {
				t.Fatal("a share of a tenant without a quota")
			}
			if round > 0 && rep.Edges != 3 {
				t.Fatalf("reply counts %d edges, want 3", rep.Edges)
			}
			if sh, ok := rep.Shares["acme"]; ok {
				share[id] = sh
			}
		}
	}
	sum := share["a"] + share["b"] + share["c"]
	if !near(sum, 1, 1e-9) {
		t.Errorf("shares %v sum to %v, want 1", share, sum)
	}
	if !near(share["b"], 0.30, 0.01) || !near(share["c"], DefaultFloor, 1e-9) || !near(share["a"], 0.69, 0.01) {
		t.Errorf("shares %v, want a ≈ 0.69, b ≈ 0.30, c = %v", share, DefaultFloor)
	}
	admitted := math.Min(offered["a"], share["a"]*1000) + math.Min(offered["b"], share["b"]*1000)
	if !near(admitted, 1000, 50) {
		t.Errorf("the fleet admits %v events/s of a 1000/s quota", admitted)
	}
	v := a.Tenant("acme", now)
	if v.LiveEdges != 3 || len(v.Edges) != 3 || !near(v.AdmittedEventsPerSec, admitted, 60) {
		t.Errorf("view %+v, want 3 edges admitting ≈ %v/s", v, admitted)
	}

	// Edge a dies: once EdgeTTL passed without its report, b and c share the whole quota.
	for range 5 {
		now = now.Add(time.Second)
		for _, id := range []string{"b", "c"} {
			rep := a.Observe(edgeReport(id, now, 30, 0), now)
			share[id] = rep.Shares["acme"]
		}
	}
	if !near(share["b"]+share["c"], 1, 1e-9) {
		t.Errorf("after edge a died: b %v + c %v, want 1", share["b"], share["c"])
	}
}

// TestAClientThatMovesIsFollowedWithinTwoReports: all of the traffic moves from a to c; c's
// share passes 90% within two reports.
func TestAClientThatMovesIsFollowedWithinTwoReports(t *testing.T) {
	a := New(Config{}, quotas)
	now := time.Unix(1_800_000_000, 0)
	share := map[string]float64{}
	step := func(offered map[string]float64) {
		now = now.Add(time.Second)
		for _, id := range []string{"a", "b", "c"} {
			sh, ok := share[id]
			if !ok {
				sh = 1.0 / 3
			}
			adm := math.Min(offered[id], sh*1000) / 10
			rep := a.Observe(edgeReport(id, now, uint64(adm), uint64(offered[id]/10-adm)), now)
			if s, ok := rep.Shares["acme"]; ok {
				share[id] = s
			}
		}
	}
	for range 5 {
		step(map[string]float64{"a": 3000})
	}
	if share["a"] < 0.95 {
		t.Fatalf("a's share %v with all of the demand, want ≥ 0.95", share["a"])
	}
	step(map[string]float64{"c": 3000})
	step(map[string]float64{"c": 3000})
	if share["c"] < 0.9 {
		t.Errorf("c's share %v two reports after the traffic moved there, want ≥ 0.9", share["c"])
	}
}

func TestWaterFill(t *testing.T) {
	for _, tc := range []struct {
		demand, want []float64
	}{
		{[]float64{2.7, 0.3, 0}, []float64{0.69, 0.30, 0.01}},
		{[]float64{0, 0, 0}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
		{[]float64{0.1, 0.1}, []float64{0.5, 0.5}}, // under the quota: the rest equally
		{[]float64{5, 5, 5, 5}, []float64{0.25, 0.25, 0.25, 0.25}},
		{[]float64{0.5}, []float64{1}},
	} {
		got := waterFill(tc.demand, math.Min(DefaultFloor, 1/float64(len(tc.demand))))
		sum := 0.0
		for i := range got {
			sum += got[i]
			if !near(got[i], tc.want[i], 1e-9) {
				t.Errorf("waterFill(%v) = %v, want %v", tc.demand, got, tc.want)
				break
			}
		}
		if !near(sum, 1, 1e-9) {
			t.Errorf("waterFill(%v) sums to %v", tc.demand, sum)
		}
	}
}
