package e2e

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/migration/replay"
	"github.com/ingestdev/ingest/record"
)

// benchReplay is the replay of the standard scenario with INGEST_BENCH_REPLAY=1.
type benchReplay struct {
	p       *pipeline
	rate    int
	id      string
	records int64
	started time.Time
	idle    bool // planned, never started
}

// prepareReplay writes benchReplayRecords log records of benchReplayTenant straight to its
// topic (two partitions), waits until the live loader has loaded them, and plans their
// replay through the control plane.
func (p *pipeline) prepareReplay(t *testing.T) *benchReplay {
	t.Helper()
	p.tenant(benchReplayTenant, "v2", nil)
	topic := "ingest." + benchReplayTenant
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatalf("cannot create %s: %v", topic, err)
	}
	base := time.Now().Add(-time.Hour).UnixNano()
	const chunk = 20_000
	for lo := 0; lo < benchReplayRecords; lo += chunk {
		krs := make([]*kgo.Record, 0, chunk)
		for i := lo; i < lo+chunk; i++ {
			r := &record.Record{Tenant: benchReplayTenant, Signal: record.SignalLog, Timestamp: base + int64(i)*1000, ReceivedAt: base + int64(i)*1000 + 1e6,
				Name: "app.log", Scope: "bench", SeverityNumber: 9, SeverityText: "INFO",
				Attributes: []record.KV{{Key: "host", Value: "h" + strconv.Itoa(i%50)}, {Key: "route", Value: "/api/v1/items"}},
				Resource:   []record.KV{{Key: "service.name", Value: "bench"}},
				Body:       "request served in " + strconv.Itoa(i%997) + " ms " + strings.Repeat("x", 160)}
			r.EventID[0] = 0xbe
			for k, v := 8, uint64(i); k < 16; k, v = k+1, v>>8 {
				r.EventID[k] = byte(v)
			}
			krs = append(krs, &kgo.Record{Topic: topic, Key: append([]byte(nil), r.EventID[:]...), Value: record.Append(nil, r)})
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			t.Fatalf("cannot produce the replay's records: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for p.landedCount(t, []string{benchReplayTenant}) < benchReplayRecords {
		if time.Now().After(deadline) {
			t.Fatalf("the live loader did not load the replay's %d records within 5 minutes", benchReplayRecords)
		}
		time.Sleep(time.Second)
	}
	// Let ClickHouse finish merging the preload's parts: merges still running would load the
	// measured window whether or not a replay runs.
	quiet, deadline := time.Time{}, time.Now().Add(3*time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var merges uint64
		if err := p.ch.Conn().QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&merges); err != nil {
			t.Fatal(err)
		}
		switch {
		case merges > 0:
			quiet = time.Time{}
		case quiet.IsZero():
			quiet = time.Now()
		case time.Since(quiet) > 5*time.Second:
			deadline = time.Time{}
		}
	}
	rp := &benchReplay{p: p}
	if v := os.Getenv("INGEST_BENCH_REPLAY_RATE"); v != "" {
		if rp.rate, err = strconv.Atoi(v); err != nil || rp.rate <= 0 {
			t.Fatalf("cannot use INGEST_BENCH_REPLAY_RATE=%q: want records per second", v)
		}
	}
	from, to := int64(0), int64(benchReplayRecords/2)
	j, err := p.cp.PlanReplay(ctx, replay.PlanRequest{Tenant: benchReplayTenant, From: &from, To: &to, Rate: rp.rate}, "benchmark")
	if err != nil {
		t.Fatalf("cannot plan the replay: %v", err)
	}
	rp.id, rp.records, rp.rate = j.ID, j.Plan.Records, j.Plan.Rate
	t.Logf("replay %s planned: %d records at %d records/s", j.ID, j.Plan.Records, j.Plan.Rate)
	return rp
}

// start starts the planned replay.
func (rp *benchReplay) start(t *testing.T) {
	t.Helper()
	if rp.idle {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := rp.p.cp.StartReplay(ctx, rp.id, "benchmark"); err != nil {
		t.Fatalf("cannot start the replay: %v", err)
	}
	rp.started = time.Now()
}

// finish reports how far the replay got by the end of the load; a replay still running is
// cancelled then, so that the processes' CPU and the drain measure the load's window only.
func (rp *benchReplay) finish(t *testing.T) *replayResult {
	t.Helper()
	if rp.idle {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	j, err := rp.p.cp.Replay(ctx, rp.id)
	if err != nil {
		t.Fatalf("cannot read the replay: %v", err)
	}
	res := &replayResult{ID: rp.id, Rate: rp.rate, Records: rp.records, DoneAtEnd: j.Progress.RecordsDone}
	switch j.State {
	case replay.StateLoaded:
		if j.Progress.StartedAt != nil && j.Progress.FinishedAt != nil {
			res.DurationSec = j.Progress.FinishedAt.Sub(*j.Progress.StartedAt).Seconds()
		}
	case replay.StateRunning:
		if j, err = rp.p.cp.CancelReplay(ctx, rp.id, "benchmark: the load ended"); err != nil {
			t.Fatalf("cannot cancel the replay: %v", err)
		}
		res.DoneAtEnd = j.Progress.RecordsDone
	default:
		t.Fatalf("the replay ended %s: %s", j.State, j.Error)
	}
	return res
}
