package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fileStore is a Store in a JSON file, shared by a test and the worker process it kills.
type fileStore struct {
	mu   sync.Mutex
	path string
}

type fileState struct {
	Seq  int            `json:"seq"`
	Jobs map[string]Job `json:"jobs"`
}

func (s *fileStore) load() (fileState, error) {
	st := fileState{Jobs: map[string]Job{}}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

func (s *fileStore) save(st fileState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

func (s *fileStore) NextID(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return "", err
	}
	st.Seq++
	return fmt.Sprint(st.Seq), s.save(st)
}

func (s *fileStore) Put(_ context.Context, j Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return err
	}
	st.Jobs[j.ID] = j
	return s.save(st)
}

func (s *fileStore) Get(_ context.Context, id string) (Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return Job{}, err
	}
	j, ok := st.Jobs[id]
	if !ok {
		return Job{}, ErrNotFound
	}
	return j, nil
}

func (s *fileStore) List(context.Context) ([]Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	var out []Job
	for _, j := range st.Jobs {
		out = append(out, j)
	}
	return out, err
}

// TestReplayWorkerProcess is the worker process that TestKill9OfTheWorkerThenResumeIsExact
// kills: it runs a Manager on the shared store and starts the job, until killed.
func TestReplayWorkerProcess(t *testing.T) {
	if os.Getenv("REPLAY_WORKER_STORE") == "" {
		t.Skip("run by TestKill9OfTheWorkerThenResumeIsExact")
	}
	m, err := New(Config{Brokers: strings.Split(os.Getenv("REPLAY_WORKER_BROKERS"), ","), Rate: 20_000, FlushRows: 2000},
		Options{Conn: chConn(t, os.Getenv("REPLAY_WORKER_CLICKHOUSE")), Database: "ingest", Store: &fileStore{path: os.Getenv("REPLAY_WORKER_STORE")}, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	go func() { _ = m.Run(ctx) }()
	for {
		if _, err := m.Start(ctx, os.Getenv("REPLAY_WORKER_JOB")); err == nil {
			break
		} else if !hasCode(err, CodeUnavailable) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {} // until killed
}

// kill -9 of the process running a replay, at a random point of its run, then a new
// process resumes it from its checkpoint: every planned record is in the replay tables
// exactly once, and the tables equal live.
func TestKill9OfTheWorkerThenResumeIsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a worker process")
	}
	const records = 60_000
	e := newEnv(t, 2, "ingest.acme")
	e.produce("acme", 2, 0, records)
	e.liveLoader()
	store := &fileStore{path: filepath.Join(t.TempDir(), "replays.json")}
	m, stop := e.manager(Config{}, store)
	j, err := m.Plan(context.Background(), PlanRequest{Tenant: "acme", From: i64(0), To: i64(records / 2)})
	if err != nil {
		t.Fatal(err)
	}
	stop()

	cmd := exec.Command(os.Args[0], "-test.run=^TestReplayWorkerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "REPLAY_WORKER_STORE="+store.path, "REPLAY_WORKER_JOB="+j.ID,
		"REPLAY_WORKER_BROKERS="+strings.Join(e.kafka.ListenAddrs(), ","), "REPLAY_WORKER_CLICKHOUSE="+e.ch.Addr())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := store.Get(context.Background(), j.ID)
		if err == nil && got.Progress.RecordsDone >= records/3 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the worker did not get a third through within a minute: %+v %v\n%s", got.Progress, err, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed, _ := store.Get(context.Background(), j.ID)
	if killed.State != StateRunning || killed.Progress.RecordsDone >= records {
		t.Fatalf("killed at %s with %d/%d records done: want it running, mid-way", killed.State, killed.Progress.RecordsDone, records)
	}
	t.Logf("killed at %d of %d records (checkpoint)", killed.Progress.RecordsDone, records)

	m, _ = e.manager(Config{}, store) // Run resumes the running job
	j = waitState(t, m, j.ID, StateLoaded, 2*time.Minute)
	assertExactlyOnce(t, e, j, records)
}

// assertExactlyOnce checks that job j's tables hold each planned record once (without FINAL)
// and, once live has every record too, equal live window by window.
func assertExactlyOnce(t *testing.T, e *env, j Job, records uint64) {
	t.Helper()
	var rows, distinct uint64
	for _, s := range signals {
		rows += e.count("SELECT count() FROM ingest." + replayTable(s, j.ID))
		distinct += e.count("SELECT uniqExact(kafka_partition, kafka_offset) FROM ingest." + replayTable(s, j.ID))
	}
	if rows != records || distinct != records {
		t.Errorf("the replay tables hold %d rows of %d distinct offsets, want %d of each", rows, distinct, records)
	}
	if j.Progress.RecordsDone != int64(records) {
		t.Errorf("progress says %d records done, want %d", j.Progress.RecordsDone, records)
	}
	for _, s := range signals {
		e.waitCount("SELECT count() FROM ingest."+liveTable(s)+" WHERE tenant = 'acme'", records/3, time.Minute)
	}
	m, _ := e.manager(Config{}, &MemStore{})
	if err := m.o.Store.Put(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	d, err := m.Diff(context.Background(), j.ID, ByHour)
	if err != nil {
		t.Fatal(err)
	}
	if d.Totals.Matching != d.Totals.Windows || d.Totals.ReplayRows != records {
		t.Errorf("the replay tables differ from live: %+v", d.Totals)
	}
}

// A crash between a flush's INSERTs and its checkpoint (the worst point: the rows are in,
// the checkpoint does not say so) leaves nothing twice after the resume.
func TestResumeAfterACrashBetweenInsertAndCheckpoint(t *testing.T) {
	const records = 6000
	e := newEnv(t, 2, "ingest.acme")
	e.produce("acme", 2, 0, records)
	e.liveLoader()
	store := &MemStore{}
	m, stop := e.manager(Config{Rate: 1_000_000, FlushRows: 500}, store)
	j, err := m.Plan(context.Background(), PlanRequest{Tenant: "acme", From: i64(0), To: i64(records / 2)})
	if err != nil {
		t.Fatal(err)
	}
	flushes, crash := 0, make(chan struct{})
	m.hookFlushed = func(*Job) error {
		if flushes++; flushes < 3 {
			return nil
		}
		// The crash: the process ends before this checkpoint is saved.
		m.mu.Lock()
		m.runs[j.ID].cancel()
		m.mu.Unlock()
		close(crash)
		return context.Canceled
	}
	if _, err := m.Start(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	<-crash
	stop()
	crashed, _ := store.Get(context.Background(), j.ID)
	if crashed.State != StateRunning || crashed.Progress.RecordsDone == 0 || crashed.Progress.RecordsDone >= records {
		t.Fatalf("after the crash: %s with %d records checkpointed; want running, mid-way", crashed.State, crashed.Progress.RecordsDone)
	}
	m, _ = e.manager(Config{Rate: 1_000_000, FlushRows: 500}, store)
	j = waitState(t, m, j.ID, StateLoaded, time.Minute)
	assertExactlyOnce(t, e, j, records)
}

// Cancel stops a run where it is; start resumes it from its checkpoint to an exact result.
func TestCancelThenStartResumesExactly(t *testing.T) {
	const records = 6000
	e := newEnv(t, 2, "ingest.acme")
	e.produce("acme", 2, 0, records)
	e.liveLoader()
	m, _ := e.manager(Config{Rate: 3000, FlushRows: 300}, &MemStore{})
	ctx := context.Background()
	j, err := m.Plan(ctx, PlanRequest{Tenant: "acme", From: i64(0), To: i64(records / 2)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		got, _ := m.Get(ctx, j.ID)
		if p := got.Progress; p.RecordsDone >= 1500 {
			// 3000 records/s planned: the rate shown is near it, and so is the ETA.
			if p.RatePerSecond < 1500 || p.RatePerSecond > 4500 || p.ETASeconds <= 0 || p.Percent <= 0 {
				t.Errorf("progress while running at 3000 records/s: %+v", p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not progress")
		}
	}
	c, err := m.Cancel(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != StateCancelled || c.Progress.RecordsDone >= records {
		t.Fatalf("after cancel: %s, %d records; want cancelled mid-way", c.State, c.Progress.RecordsDone)
	}
	if _, err := m.Cancel(ctx, j.ID); !hasCode(err, CodeState) {
		t.Errorf("cancel of a cancelled replay: %v, want %s", err, CodeState)
	}
	if _, err := m.Diff(ctx, j.ID, ""); !hasCode(err, CodeState) {
		t.Errorf("diff of a cancelled replay: %v, want %s", err, CodeState)
	}
	if _, err := m.Start(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, j.ID); !hasCode(err, CodeState) {
		t.Errorf("start of a running replay: %v, want %s", err, CodeState)
	}
	if _, err := m.Discard(ctx, j.ID); !hasCode(err, CodeState) {
		t.Errorf("discard of a running replay: %v, want %s", err, CodeState)
	}
	m.cfg.Rate = 1_000_000
	j = waitState(t, m, j.ID, StateLoaded, time.Minute)
	assertExactlyOnce(t, e, j, records)
}

// Every bad plan is refused, with a message that names the valid range.
func TestBadPlansAreRefusedNamingTheValidRange(t *testing.T) {
	e := newEnv(t, 2, "ingest.acme")
	e.produce("acme", 2, 0, 200) // 100 records a partition
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "ingest.acme", Partition: 1, At: 20})
	if _, err := kadm.NewClient(cl).DeleteRecords(context.Background(), del); err != nil {
		t.Fatal(err) // retention removed offsets [0, 20) of partition 1
	}
	m, _ := e.manager(Config{}, &MemStore{})
	future := time.Now().Add(time.Hour)
	past := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		name string
		req  PlanRequest
		code string
		msg  string
	}{
		{"from after to", PlanRequest{Tenant: "acme", From: i64(50), To: i64(10)}, CodeBadRange, "--from=50 is after --to=10"},
		{"empty", PlanRequest{Tenant: "acme", From: i64(10), To: i64(10)}, CodeBadRange, "is empty (to is exclusive)"},
		{"expired", PlanRequest{Tenant: "acme", From: i64(5), To: i64(50)}, CodeBadRange, "partition 1: --from=5 is no longer held (expired by retention): partition 1 holds offsets [20, 100), so the earliest --from is 20"},
		{"beyond the high watermark", PlanRequest{Tenant: "acme", From: i64(20), To: i64(150)}, CodeBadRange, "--to=150 is beyond the high watermark 100 (offsets not written yet): partition 0 holds offsets [0, 100), so the latest --to is 100"},
		{"from beyond the high watermark", PlanRequest{Tenant: "acme", From: i64(120), To: i64(130), Partitions: []int32{0}}, CodeBadRange, "--from=120 is beyond the high watermark 100"},
		{"unknown partition", PlanRequest{Tenant: "acme", From: i64(0), To: i64(10), Partitions: []int32{7}}, CodeBadPartition, "topic ingest.acme has partitions 0 to 1; partition 7 does not exist"},
		{"unknown tenant", PlanRequest{Tenant: "nobody", From: i64(0), To: i64(10)}, CodeUnknownTenant, "tenant nobody has no topic ingest.nobody"},
		{"invalid tenant", PlanRequest{Tenant: "Not A Tenant", From: i64(0), To: i64(10)}, CodeInvalid, "tenant"},
		{"no start", PlanRequest{Tenant: "acme", To: i64(10)}, CodeInvalid, "exactly one of --from=<offset> and --from-time"},
		{"two starts", PlanRequest{Tenant: "acme", From: i64(0), FromTime: &past, To: i64(10)}, CodeInvalid, "exactly one of --from=<offset> and --from-time"},
		{"no end", PlanRequest{Tenant: "acme", From: i64(0)}, CodeInvalid, "exactly one of --to=<offset> (exclusive) and --to-time"},
		{"negative", PlanRequest{Tenant: "acme", From: i64(-1), To: i64(10)}, CodeBadRange, "offsets are not negative"},
		{"future", PlanRequest{Tenant: "acme", FromTime: &future, ToTime: &future}, CodeBadRange, "is not before --to-time"},
		{"from-time in the future", PlanRequest{Tenant: "acme", FromTime: &future, To: i64(10)}, CodeBadRange, "is in the future"},
		{"from-time expired", PlanRequest{Tenant: "acme", FromTime: &past, To: i64(100), Partitions: []int32{1}}, CodeBadRange, "is before the earliest record partition 1 still holds (offset 20"},
		{"negative rate", PlanRequest{Tenant: "acme", From: i64(0), To: i64(10), Rate: -5}, CodeInvalid, "--rate=-5"},
	} {
		_, err := m.Plan(context.Background(), c.req)
		var re *Error
		if !errors.As(err, &re) || re.Code != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %s containing %q", c.name, err, c.code, c.msg)
		}
	}
	if jobs, _ := m.List(context.Background()); len(jobs) != 0 {
		t.Errorf("refused plans were persisted: %d jobs", len(jobs))
	}
	// A good time-bounded plan of the held records is accepted.
	j, err := m.Plan(context.Background(), PlanRequest{Tenant: "acme", FromTime: &past, ToTime: &future, Partitions: []int32{0}})
	if err != nil {
		t.Fatal(err)
	}
	if r := j.Plan.Partitions[0]; r.From != 0 || r.To != 100 || r.Records != 100 {
		t.Errorf("time plan of partition 0: %+v, want [0, 100) with 100 records", r)
	}
}

// Records that retention removed between the plan and the run fail the run, naming the
// partition; they are never skipped in silence.
func TestRecordsExpiredAfterThePlanFailTheRun(t *testing.T) {
	e := newEnv(t, 1, "ingest.acme")
	e.produce("acme", 1, 0, 300)
	m, _ := e.manager(Config{}, &MemStore{})
	ctx := context.Background()
	j, err := m.Plan(ctx, PlanRequest{Tenant: "acme", From: i64(0), To: i64(300)})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "ingest.acme", Partition: 0, At: 100})
	if _, err := kadm.NewClient(cl).DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	j = waitState(t, m, j.ID, StateFailed, time.Minute)
	if !strings.Contains(j.Error, "partition 0") || j.Progress.RecordsDone != 0 {
		t.Errorf("failed with %q after %d records, want an error naming partition 0 and nothing done", j.Error, j.Progress.RecordsDone)
	}
}
