package registry_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/replay"
)

func TestReplayIDsNeverRepeatAcrossReopen(t *testing.T) {
	ctx := context.Background()
	r, path := openTemp(t)
	var ids []string
	for range 3 {
		id, err := r.Replays().NextID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if !slices.Equal(ids, []string{"1", "2", "3"}) {
		t.Fatalf("ids %v, want 1 2 3", ids)
	}
	// An id taken but never stored is not given again either.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Replays().NextID(ctx); !errors.Is(err, registry.ErrClosed) {
		t.Fatalf("NextID after Close: %v, want ErrClosed", err)
	}
	r2, err := registry.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	id, err := r2.Replays().NextID(ctx)
	if err != nil || id != "4" {
		t.Fatalf("after reopen: id %q (%v), want 4", id, err)
	}
}

func TestReplayJobsRoundTripAndSurviveReopen(t *testing.T) {
	ctx := context.Background()
	r, path := openTemp(t)
	s := r.Replays()
	from, to := int64(100), int64(200)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	first, last := at.Add(-time.Hour), at.Add(-time.Minute)
	jobs := []replay.Job{
		{ID: "1", State: replay.StatePlanned, CreatedAt: at, UpdatedAt: at, Plan: replay.Plan{
			Tenant: "acme", Topic: "ingest.acme", Database: "ingest", Records: 100, Events: 99, Corrupt: 1, Rate: 1000,
			EventTimeMin: &first, EventTimeMax: &last,
			Partitions: []replay.PartitionRange{{Partition: 0, From: 100, To: 200, LastOffset: 199, Records: 100, Events: 99, Corrupt: 1, HighWatermark: 250}},
			Tables:     []replay.TableTarget{{Signal: "logs", Live: "logs", Replay: "logs_replay_1", Events: 99}},
			Request:    replay.PlanRequest{Tenant: "acme", From: &from, To: &to},
		}},
		{ID: "2", State: replay.StateFailed, Error: "kafka down", CreatedAt: at.Add(time.Second), UpdatedAt: at.Add(time.Second),
			Progress: replay.Progress{RecordsDone: 5, RecordsTotal: 10, Partitions: []replay.PartitionProgress{{Partition: 3, Next: 15}}}},
	}
	for _, j := range jobs {
		if err := s.Put(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	// Put replaces.
	jobs[1].State, jobs[1].Error = replay.StateRunning, ""
	if err := s.Put(ctx, jobs[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, replay.Job{}); err == nil {
		t.Fatal("a job without an id was stored")
	}
	check := func(s *registry.ReplayStore) {
		t.Helper()
		got, err := s.Get(ctx, "1")
		if err != nil || !jsonEqual(t, got, jobs[0]) {
			t.Fatalf("Get(1) = %+v, %v", got, err)
		}
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		if !jsonEqual(t, list, jobs) {
			t.Fatalf("List = %s\nwant %s", mustJSON(t, list), mustJSON(t, jobs))
		}
	}
	check(s)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := registry.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	check(r2.Replays())
	// The jobs are not registry state: no revision was created.
	if r2.Revision() != 0 {
		t.Fatalf("storing jobs created revision %d", r2.Revision())
	}
}

func TestReplayGetOfAnUnknownIDWrapsErrNotFound(t *testing.T) {
	r, _ := openTemp(t)
	_, err := r.Replays().Get(context.Background(), "42")
	if !errors.Is(err, replay.ErrNotFound) || err.Error() != `replay "42": no such replay` {
		t.Fatalf("Get(42): %v", err)
	}
	list, err := r.Replays().List(context.Background())
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("List of none = %#v, %v; want an empty list", list, err)
	}
}
