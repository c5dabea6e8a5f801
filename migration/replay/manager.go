package replay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/kafkalog"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// Options are a Manager's collaborators.
type Options struct {
	// Conn is ClickHouse (the control plane's clickhouse section). Required.
	Conn driver.Conn
	// Database holds the live tables; replay tables are created beside them. Default "ingest".
	Database string
	// Cluster is the ClickHouse cluster of the live tables (the loaders' clickhouse_cluster:
	// one shard of Replicated tables, see schema.MigrateCluster), whose replica Conn reaches.
	// The replay tables are then created and dropped ON CLUSTER, each Replicated with a
	// ZooKeeper path of its own, and diff, promote and a run's start first wait for that
	// replica to hold what the others committed. Empty: one server.
	Cluster string
	// Store persists the jobs. Required.
	Store Store
	// Log and Registerer default to slog.Default and no metrics.
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Manager plans, runs, diffs, promotes and discards replays. It implements Service; Run
// resumes the jobs that were running and runs the workers until its context ends.
//
// Concurrency: every method is safe for concurrent use. mu guards the job states (so two
// requests cannot both start, or promote and discard, one job) and runs; a run's worker owns
// its job until it ends and publishes its progress under the run's own mutex.
type Manager struct {
	cfg   Config
	o     Options
	db    string
	log   *slog.Logger
	now   func() time.Time
	kafka *kgo.Client
	// kafkaSec secures every Kafka client of the manager (cfg.Kafka, its files read once).
	kafkaSec []kgo.Opt
	tables   tables
	m        *metrics

	mu   sync.Mutex
	base context.Context // Run's context; nil before Run and after it returned
	runs map[string]*run
	wg   sync.WaitGroup
	busy map[string]bool // jobs with a promote or discard in progress

	// hookFlushed, if set (tests), runs after a flush's INSERTs were acknowledged and before
	// the checkpoint is saved: where a crash leaves the most to reconcile. An error ends the
	// run there, as a crash would.
	hookFlushed func(job *Job) error
}

var _ Service = (*Manager)(nil)

// New checks cfg and returns a Manager. Connections are made when first needed.
func New(cfg Config, o Options) (*Manager, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("replay.brokers: no Kafka brokers: replay reads the tenant topics")
	}
	if o.Conn == nil || o.Store == nil {
		return nil, errors.New("replay needs ClickHouse (clickhouse.addr) and a store")
	}
	m := &Manager{cfg: cfg, o: o, db: cmp.Or(o.Database, "ingest"), log: o.Log, now: o.Now, runs: map[string]*run{}, busy: map[string]bool{}}
	if !schema.ValidDatabase(m.db) {
		return nil, fmt.Errorf("cannot replay into database %q: not a valid name", m.db)
	}
	if o.Cluster != "" && !schema.ValidCluster(o.Cluster) {
		return nil, fmt.Errorf("cannot replay on ClickHouse cluster %q: not a valid name (^[A-Za-z_][A-Za-z0-9_-]*$, at most 64 bytes)", o.Cluster)
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.log = m.log.With("component", "replay")
	if m.now == nil {
		m.now = time.Now
	}
	m.tables = tables{conn: o.Conn, db: m.db, cluster: o.Cluster}
	var err error
	if m.kafkaSec, err = m.cfg.Kafka.Opts(); err != nil {
		return nil, fmt.Errorf("cannot secure the replay's Kafka client: %w", err)
	}
	if m.kafka, err = kgo.NewClient(m.kafkaOpts()...); err != nil {
		return nil, fmt.Errorf("cannot create the replay's Kafka client: %w", err)
	}
	if m.m, err = newMetrics(o.Registerer); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manager) kafkaOpts() []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(m.cfg.Brokers...), kgo.WithLogger(kafkalog.New(m.log)), kgo.ClientID("ingest-replay")}, m.kafkaSec...)
}

// Run resumes every job that was running when the process stopped (gracefully or not) and
// runs the workers until ctx ends; then it stops them (each keeps its last checkpoint and
// stays running, to be resumed by the next Run) and returns.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.base = ctx
	m.mu.Unlock()
	jobs, err := m.o.Store.List(ctx)
	if err != nil {
		m.log.Error("cannot list the replays to resume", "err", err)
	}
	for _, j := range jobs {
		if j.State != StateRunning {
			continue
		}
		m.log.Info("resuming replay", "id", j.ID, "tenant", j.Plan.Tenant, "records_done", j.Progress.RecordsDone, "records_total", j.Progress.RecordsTotal)
		m.mu.Lock()
		m.launch(j)
		m.mu.Unlock()
	}
	<-ctx.Done()
	m.mu.Lock()
	m.base = nil
	m.mu.Unlock()
	m.wg.Wait()
	m.kafka.Close()
	return nil
}

// Plan plans req and persists the planned job.
func (m *Manager) Plan(ctx context.Context, req PlanRequest) (Job, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	p, err := m.plan(ctx, req)
	if err != nil {
		return Job{}, err
	}
	id, err := m.o.Store.NextID(ctx)
	if err != nil {
		return Job{}, fmt.Errorf("cannot persist the plan: %w", err)
	}
	events := p.Tables
	p.Tables = targets(id)
	for i := range p.Tables {
		p.Tables[i].Events = events[i].Events
	}
	now := m.now().UTC()
	j := Job{ID: id, State: StatePlanned, Plan: p, CreatedAt: now, UpdatedAt: now}
	j.Progress.RecordsTotal = p.Records
	for _, r := range p.Partitions {
		j.Progress.Partitions = append(j.Progress.Partitions, PartitionProgress{Partition: r.Partition, Next: r.From, Done: r.Records == 0})
	}
	if err := m.o.Store.Put(ctx, j); err != nil {
		return Job{}, fmt.Errorf("cannot persist the plan: %w", err)
	}
	m.log.Info("replay planned", "id", id, "tenant", p.Tenant, "topic", p.Topic, "records", p.Records, "partitions", len(p.Partitions))
	return j, nil
}

// get returns the stored job id.
func (m *Manager) get(ctx context.Context, id string) (Job, error) {
	if !validID(id) {
		return Job{}, errorf(CodeNotFound, "no replay %q (replay ids are numbers: see `ingestctl replay list`)", id)
	}
	j, err := m.o.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Job{}, errorf(CodeNotFound, "no replay %s (see `ingestctl replay list`)", id)
	}
	return j, err
}

// Get returns job id with its current progress.
func (m *Manager) Get(ctx context.Context, id string) (Job, error) {
	j, err := m.get(ctx, id)
	if err != nil {
		return Job{}, err
	}
	m.mu.Lock()
	r := m.runs[id]
	m.mu.Unlock()
	if r != nil {
		j.Progress = r.snapshot()
	}
	return j, nil
}

// List returns every job, newest first.
func (m *Manager) List(ctx context.Context) ([]Job, error) {
	jobs, err := m.o.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	for i := range jobs {
		if r := m.runs[jobs[i].ID]; r != nil {
			jobs[i].Progress = r.snapshot()
		}
	}
	m.mu.Unlock()
	slices.SortFunc(jobs, func(a, b Job) int {
		x, _ := strconv.ParseUint(a.ID, 10, 64)
		y, _ := strconv.ParseUint(b.ID, 10, 64)
		return cmp.Compare(y, x)
	})
	return jobs, nil
}

// Start runs job id: a planned job from its start, a cancelled or failed one from its
// checkpoint.
func (m *Manager) Start(ctx context.Context, id string) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.base == nil {
		return Job{}, errorf(CodeUnavailable, "the replay manager is not running (the control plane is starting or stopping); try again")
	}
	j, err := m.get(ctx, id)
	if err != nil {
		return Job{}, err
	}
	switch j.State {
	case StatePlanned, StateCancelled, StateFailed:
	default:
		return Job{}, errorf(CodeState, "replay %s is %s: only a planned, cancelled or failed replay can start", id, j.State)
	}
	if m.busy[id] {
		return Job{}, errorf(CodeState, "replay %s is being promoted or discarded", id)
	}
	if err := m.tables.create(ctx, id); err != nil {
		return Job{}, err
	}
	j.State, j.Error, j.UpdatedAt = StateRunning, "", m.now().UTC()
	if j.Progress.StartedAt == nil {
		t := j.UpdatedAt
		j.Progress.StartedAt = &t
	}
	if err := m.o.Store.Put(ctx, j); err != nil {
		return Job{}, err
	}
	m.log.Info("replay started", "id", id, "tenant", j.Plan.Tenant, "rate", j.Plan.Rate)
	m.launch(j)
	return j, nil
}

// launch starts j's worker. m.mu is held.
func (m *Manager) launch(j Job) {
	ctx, cancel := context.WithCancel(m.base)
	r := &run{cancel: cancel, done: make(chan struct{}), progress: j.Progress}
	m.runs[j.ID] = r
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(r.done)
		m.work(ctx, j, r)
		m.mu.Lock()
		delete(m.runs, j.ID)
		m.mu.Unlock()
	}()
}

// Cancel stops job id's run at once; what it inserted stays (its checkpoint and ledger make
// a later start resume exactly). A planned job is cancelled without running.
func (m *Manager) Cancel(ctx context.Context, id string) (Job, error) {
	m.mu.Lock()
	j, err := m.get(ctx, id)
	if err != nil {
		m.mu.Unlock()
		return Job{}, err
	}
	r := m.runs[id]
	if r == nil {
		defer m.mu.Unlock()
		if j.State != StatePlanned {
			return Job{}, errorf(CodeState, "replay %s is %s, not running: nothing to cancel", id, j.State)
		}
		j.State, j.UpdatedAt = StateCancelled, m.now().UTC()
		return j, m.o.Store.Put(ctx, j)
	}
	r.cancelled.Store(true)
	r.cancel()
	m.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return Job{}, errorf(CodeTimeout, "replay %s is stopping; see `ingestctl replay status %s`", id, id)
	}
	return m.get(ctx, id)
}

// claim marks job id busy for a promote or discard, which must not overlap with each other
// or a run; release undoes it.
func (m *Manager) claim(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runs[id] != nil {
		return errorf(CodeState, "replay %s is running: wait for it to finish (`ingestctl replay status %s -w`) or cancel it", id, id)
	}
	if m.busy[id] {
		return errorf(CodeState, "replay %s is already being promoted or discarded", id)
	}
	m.busy[id] = true
	return nil
}

func (m *Manager) release(id string) {
	m.mu.Lock()
	delete(m.busy, id)
	m.mu.Unlock()
}

// claimed claims job id and returns it with the release to defer.
func (m *Manager) claimed(ctx context.Context, id string) (Job, func(), error) {
	if err := m.claim(id); err != nil {
		return Job{}, nil, err
	}
	j, err := m.get(ctx, id)
	if err != nil {
		m.release(id)
		return Job{}, nil, err
	}
	return j, func() { m.release(id) }, nil
}

// Discard drops job id's tables and marks it discarded. A running job must be cancelled
// first.
func (m *Manager) Discard(ctx context.Context, id string) (Job, error) {
	j, release, err := m.claimed(ctx, id)
	if err != nil {
		return Job{}, err
	}
	defer release()
	if j.State == StateDiscarded {
		return Job{}, errorf(CodeState, "replay %s is discarded already", id)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	if err := m.tables.drop(ctx, id); err != nil {
		return Job{}, err
	}
	j.State, j.UpdatedAt = StateDiscarded, m.now().UTC()
	if err := m.o.Store.Put(context.WithoutCancel(ctx), j); err != nil {
		return Job{}, err
	}
	m.log.Info("replay discarded", "id", id, "tenant", j.Plan.Tenant)
	return j, nil
}
