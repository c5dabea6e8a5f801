package apitest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ingestdev/ingest/migration/replay"
)

// FakeReplay is a replay.Service in memory, for the tests of the admin API and its clients:
// Plan makes a plan from the request alone (no Kafka), the state machine is the engine's
// (planned → running → loaded → promoted; cancel, fail, discard), and diffs and promote plans
// are what the test sets. It records every call. It is safe for concurrent use; set its
// fields before serving it, or under Lock.
type FakeReplay struct {
	mu    sync.Mutex
	seq   int
	jobs  map[string]*replay.Job
	calls []string

	// Err, when set, is what every method returns (an *replay.Error to test the mapping).
	Err error
	// Now is the clock of CreatedAt and UpdatedAt. Nil: a fixed time (T0).
	Now func() time.Time
	// Diffs and PromotePlans answer Diff and PromotePlan by job id; a job without one is
	// refused with not_ready.
	Diffs        map[string]replay.Diff
	PromotePlans map[string]replay.PromotePlan
	// OnGet, when set, is called with the job on every Get, under the lock, before it is
	// returned: it moves a running job along (progress, loaded, failed).
	OnGet func(j *replay.Job)
}

// T0 is FakeReplay's default clock.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func (f *FakeReplay) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return T0
}

// Calls returns the calls so far: "Plan acme", "Start 1", "Diff 1 hour", "Promote 1 <fp>".
func (f *FakeReplay) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Job returns a copy of job id, and whether it exists.
func (f *FakeReplay) Job(id string) (replay.Job, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		return replay.Job{}, false
	}
	return *j, true
}

// Update runs fn on job id under the lock (to set its state or progress).
func (f *FakeReplay) Update(id string, fn func(j *replay.Job)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if j, ok := f.jobs[id]; ok {
		fn(j)
	}
}

// begin records a call and returns Err; the caller holds the lock until it returns.
func (f *FakeReplay) begin(format string, args ...any) error {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.Err
}

func (f *FakeReplay) job(id string) (*replay.Job, error) {
	j, ok := f.jobs[id]
	if !ok {
		return nil, &replay.Error{Code: replay.CodeNotFound, Msg: fmt.Sprintf("no replay %s: list them with GET /v1/replays", id)}
	}
	return j, nil
}

// Plan plans the request: per partition (default 0) offsets [from, to) (defaults 0 and 100),
// one event per record, one minute of event time per record before T0, and tables logs,
// metrics and spans with replay tables <signal>_replay_<id>.
func (f *FakeReplay) Plan(_ context.Context, req replay.PlanRequest) (replay.Job, error) {
	defer f.mu.Unlock()
	if err := f.begin("Plan %s", req.Tenant); err != nil {
		return replay.Job{}, err
	}
	from, to := int64(0), int64(100)
	if req.From != nil {
		from = *req.From
	}
	if req.To != nil {
		to = *req.To
	}
	if to <= from {
		return replay.Job{}, &replay.Error{Code: replay.CodeBadRange, Msg: fmt.Sprintf("the window [%d, %d) is empty: to must be above from", from, to)}
	}
	parts := req.Partitions
	if len(parts) == 0 {
		parts = []int32{0}
	}
	rate := req.Rate
	if rate == 0 {
		rate = 50_000
	}
	f.seq++
	id := strconv.Itoa(f.seq)
	p := replay.Plan{Tenant: req.Tenant, Topic: "ingest." + req.Tenant, Database: "ingest", Rate: rate, Request: req}
	n := to - from
	first, last := T0.Add(-time.Duration(n)*time.Minute), T0.Add(-time.Minute)
	for _, pt := range parts {
		p.Partitions = append(p.Partitions, replay.PartitionRange{Partition: pt, From: from, To: to, LastOffset: to - 1, Records: n, Events: n,
			EventTimeMin: &first, EventTimeMax: &last, LogStart: 0, HighWatermark: to + 50})
		p.Records += n
		p.Events += n
	}
	p.EventTimeMin, p.EventTimeMax = &first, &last
	for _, s := range []string{"logs", "metrics", "spans"} {
		p.Tables = append(p.Tables, replay.TableTarget{Signal: s, Live: s, Replay: s + "_replay_" + id})
	}
	p.Tables[0].Events = p.Events
	p.EstimatedSeconds = float64(p.Records) / float64(rate)
	j := &replay.Job{ID: id, State: replay.StatePlanned, Plan: p, CreatedAt: f.now(), UpdatedAt: f.now(),
		Progress: replay.Progress{RecordsTotal: p.Records}}
	for _, pr := range p.Partitions {
		j.Progress.Partitions = append(j.Progress.Partitions, replay.PartitionProgress{Partition: pr.Partition, Next: pr.From})
	}
	if f.jobs == nil {
		f.jobs = map[string]*replay.Job{}
	}
	f.jobs[id] = j
	return *j, nil
}

// transition moves job id from one of the states in from to to.
func (f *FakeReplay) transition(verb, id string, to replay.State, from ...replay.State) (replay.Job, error) {
	defer f.mu.Unlock()
	if err := f.begin("%s %s", verb, id); err != nil {
		return replay.Job{}, err
	}
	j, err := f.job(id)
	if err != nil {
		return replay.Job{}, err
	}
	ok := false
	for _, s := range from {
		ok = ok || j.State == s
	}
	if !ok {
		return replay.Job{}, &replay.Error{Code: replay.CodeState, Msg: fmt.Sprintf("cannot %s replay %s: it is %s", verb, id, j.State)}
	}
	j.State, j.UpdatedAt = to, f.now()
	return *j, nil
}

// Start runs a planned, cancelled or failed job.
func (f *FakeReplay) Start(_ context.Context, id string) (replay.Job, error) {
	return f.transition("Start", id, replay.StateRunning, replay.StatePlanned, replay.StateCancelled, replay.StateFailed)
}

// Cancel cancels a running job.
func (f *FakeReplay) Cancel(_ context.Context, id string) (replay.Job, error) {
	return f.transition("Cancel", id, replay.StateCancelled, replay.StateRunning)
}

// Discard discards a job that is not running.
func (f *FakeReplay) Discard(_ context.Context, id string) (replay.Job, error) {
	return f.transition("Discard", id, replay.StateDiscarded, replay.StatePlanned, replay.StateLoaded, replay.StateCancelled, replay.StateFailed, replay.StatePromoted)
}

// Get returns a job, after OnGet.
func (f *FakeReplay) Get(_ context.Context, id string) (replay.Job, error) {
	defer f.mu.Unlock()
	if err := f.begin("Get %s", id); err != nil {
		return replay.Job{}, err
	}
	j, err := f.job(id)
	if err != nil {
		return replay.Job{}, err
	}
	if f.OnGet != nil {
		f.OnGet(j)
	}
	return *j, nil
}

// List returns every job in id order, oldest first: the Service contract says newest first,
// and the API must not rely on it.
func (f *FakeReplay) List(context.Context) ([]replay.Job, error) {
	defer f.mu.Unlock()
	if err := f.begin("List"); err != nil {
		return nil, err
	}
	out := make([]replay.Job, 0, len(f.jobs))
	for _, j := range f.jobs {
		out = append(out, *j)
	}
	sort.Slice(out, func(a, b int) bool {
		na, _ := strconv.Atoi(out[a].ID)
		nb, _ := strconv.Atoi(out[b].ID)
		return na < nb
	})
	return out, nil
}

// Diff returns Diffs[id].
func (f *FakeReplay) Diff(_ context.Context, id, by string) (replay.Diff, error) {
	defer f.mu.Unlock()
	if err := f.begin("Diff %s %s", id, by); err != nil {
		return replay.Diff{}, err
	}
	if _, err := f.job(id); err != nil {
		return replay.Diff{}, err
	}
	d, ok := f.Diffs[id]
	if !ok {
		return replay.Diff{}, &replay.Error{Code: replay.CodeNotReady, Msg: fmt.Sprintf("replay %s has no diff yet", id)}
	}
	return d, nil
}

// PromotePlan returns PromotePlans[id].
func (f *FakeReplay) PromotePlan(_ context.Context, id string) (replay.PromotePlan, error) {
	defer f.mu.Unlock()
	if err := f.begin("PromotePlan %s", id); err != nil {
		return replay.PromotePlan{}, err
	}
	if _, err := f.job(id); err != nil {
		return replay.PromotePlan{}, err
	}
	p, ok := f.PromotePlans[id]
	if !ok {
		return replay.PromotePlan{}, &replay.Error{Code: replay.CodeNotReady, Msg: fmt.Sprintf("replay %s has no promote plan yet", id)}
	}
	return p, nil
}

// Promote applies PromotePlans[id] if fingerprint is its: every planned row inserted and
// deleted, one roll-up window per change, and the job promoted.
func (f *FakeReplay) Promote(_ context.Context, id, fingerprint string) (replay.PromoteResult, error) {
	defer f.mu.Unlock()
	if err := f.begin("Promote %s %s", id, fingerprint); err != nil {
		return replay.PromoteResult{}, err
	}
	j, err := f.job(id)
	if err != nil {
		return replay.PromoteResult{}, err
	}
	p, ok := f.PromotePlans[id]
	if !ok || p.Fingerprint != fingerprint {
		return replay.PromoteResult{}, &replay.Error{Code: replay.CodeChanged, Msg: fmt.Sprintf("the promote plan of replay %s changed since fingerprint %s: review it again", id, fingerprint)}
	}
	res := replay.PromoteResult{PromotePlan: p, Inserted: p.Insert, Deleted: p.Delete, Mutations: 1, RollupWindows: len(p.Changes), PromotedAt: f.now()}
	j.State, j.Promotion = replay.StatePromoted, &res
	return res, nil
}

var _ replay.Service = (*FakeReplay)(nil)
