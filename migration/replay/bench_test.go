package replay

import (
	"context"
	"testing"
	"time"
)

// BenchmarkReplayRun measures a run alone: plan once, then replay every planned record of a
// tenant (a third each logs, metrics and spans, two partitions) from kfake into the replay's
// own tables of a private ClickHouse, unthrottled. Each op is one whole run; records/s is
// over the run (start to loaded), plan excluded.
func BenchmarkReplayRun(b *testing.B) {
	const records = 200_000
	e := newEnv(b, 2, "ingest.acme")
	for lo := 0; lo < records; lo += 20_000 {
		e.produce("acme", 2, lo, lo+20_000)
	}
	m, _ := e.manager(Config{Rate: 100_000_000}, &MemStore{})
	ctx := context.Background()
	var elapsed time.Duration
	for b.Loop() {
		j, err := m.Plan(ctx, PlanRequest{Tenant: "acme", From: i64(0), To: i64(records / 2)})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := m.Start(ctx, j.ID); err != nil {
			b.Fatal(err)
		}
		waitState(b, m, j.ID, StateLoaded, 5*time.Minute)
		elapsed += time.Since(start)
		if _, err := m.Discard(ctx, j.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(records*b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPlan measures planning (offsets, then reading every planned record's header).
func BenchmarkPlan(b *testing.B) {
	const records = 200_000
	e := newEnv(b, 2, "ingest.acme")
	for lo := 0; lo < records; lo += 20_000 {
		e.produce("acme", 2, lo, lo+20_000)
	}
	m, _ := e.manager(Config{}, &MemStore{})
	start := time.Now()
	for b.Loop() {
		if _, err := m.Plan(context.Background(), PlanRequest{Tenant: "acme", From: i64(0), To: i64(records / 2)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(records*b.N)/time.Since(start).Seconds(), "records/s")
}
