package loader

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeGroup hands out the fetches sent to polls, one per PollRecords, and counts the calls
// the loop makes.
type fakeGroup struct {
	polls   chan kgo.Fetches
	allowed atomic.Int64
	left    atomic.Bool
	mu      sync.Mutex
	paused  map[string]bool // guarded by mu
}

func (g *fakeGroup) PollRecords(ctx context.Context, _ int) kgo.Fetches {
	select {
	case fs := <-g.polls:
		return fs
	case <-ctx.Done():
		return nil
	}
}

func (g *fakeGroup) AllowRebalance() { g.allowed.Add(1) }

func (g *fakeGroup) PauseFetchTopics(topics ...string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused == nil {
		g.paused = map[string]bool{}
	}
	for _, t := range topics {
		g.paused[t] = true
	}
	return nil
}

func (g *fakeGroup) ResumeFetchTopics(topics ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range topics {
		delete(g.paused, t)
	}
}

func (g *fakeGroup) isPaused(topic string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused[topic]
}

func (g *fakeGroup) LeaveGroupContext(context.Context) error {
	g.left.Store(true)
	return nil
}

// findOrAdd returns the first element of *s that match accepts, appending add when none does.
func findOrAdd[T any](s *[]T, match func(T) bool, add T) *T {
	for i := range *s {
		if match((*s)[i]) {
			return &(*s)[i]
		}
	}
	*s = append(*s, add)
	return &(*s)[len(*s)-1]
}

// fetchesOf returns recs as one fetch, grouped by topic and partition, with high watermarks
// after their last offsets.
func fetchesOf(recs []*kgo.Record) kgo.Fetches {
	var f kgo.Fetch
	for _, r := range recs {
		ft := findOrAdd(&f.Topics, func(t kgo.FetchTopic) bool { return t.Topic == r.Topic }, kgo.FetchTopic{Topic: r.Topic})
		fp := findOrAdd(&ft.Partitions, func(p kgo.FetchPartition) bool { return p.Partition == r.Partition }, kgo.FetchPartition{Partition: r.Partition})
		fp.Records = append(fp.Records, r)
		fp.HighWatermark = r.Offset + 1
	}
	return kgo.Fetches{f}
}

// fakeCommitter records the offsets committed, and how many rows ClickHouse held at each
// commit.
type fakeCommitter struct {
	ch      *fakeCH
	mu      sync.Mutex
	failing int // the next failing commits fail
	commits []map[string]map[int32]int64
	rowsAt  []int
}

func (fc *fakeCommitter) commit(_ context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.failing > 0 {
		fc.failing--
		return context.DeadlineExceeded
	}
	c := map[string]map[int32]int64{}
	for topic, ps := range offsets {
		c[topic] = map[int32]int64{}
		for p, eo := range ps {
			c[topic][p] = eo.Offset
		}
	}
	fc.commits = append(fc.commits, c)
	fc.rowsAt = append(fc.rowsAt, len(fc.ch.inserted()))
	return nil
}

func (fc *fakeCommitter) get() ([]map[string]map[int32]int64, []int) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]map[string]map[int32]int64(nil), fc.commits...), append([]int(nil), fc.rowsAt...)
}

// newTestConsumer returns a consumer loop over ch, a fake group and a fake committer.
func newTestConsumer(t testing.TB, ch *fakeCH, interval time.Duration) (*consumer, *fakeCommitter, *fakeGroup) {
	t.Helper()
	m := newTestMetrics(t)
	log := discardLogger()
	rt := &retries{log: log}
	led := newLedger(ch, m.recordsSkipped)
	policy := testPolicy
	policy.interval = interval
	f := newFlusher(policy, ch, led, &fakeDLQ{ch: ch}, "ingest-deadletter", m, log, rt)
	cfg := DefaultConfig()
	cfg.RetryMin, cfg.RetryMax, cfg.ShutdownTimeout = time.Millisecond, 10*time.Millisecond, 5*time.Second
	ft := newFakeTopics()
	inc := newIncarnations(ft, ft, m.topicConflicts, log, nil)
	c := newConsumer(cfg, led, inc, f, rt, m, log, new(atomic.Bool))
	fc, g := &fakeCommitter{ch: ch}, &fakeGroup{polls: make(chan kgo.Fetches, 10)}
	c.cl, c.commits = g, fc
	return c, fc, g
}

// rebalance runs the callbacks of an eager rebalance and lets the loop apply them.
func rebalance(c *consumer) {
	parts := map[string][]int32{"ingest.acme": {0}}
	c.onRevoked(context.Background(), nil, parts)
	c.onAssigned(context.Background(), nil, parts)
	c.step.Lock()
	c.applyRebalance()
	c.step.Unlock()
}

func offsetsOf(topic string, p int32, off int64) map[string]map[int32]int64 {
	return map[string]map[int32]int64{topic: {p: off}}
}

func TestTakeSkipsWhatTheLedgerShowsPerTable(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{{tableLogs, "ingest.acme", 0}: 2}}
	c, _, _ := newTestConsumer(t, ch, time.Second)
	c.backlog = logRecords(5)
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(c.f.bufs[tableLogs].recs); got != 2 {
		t.Errorf("buffered %d records, want 2 (offsets 3 and 4)", got)
	}
	if ps := c.parts[topicPartition{"ingest.acme", 0}]; ps == nil || ps.next != 5 {
		t.Errorf("partition state %+v, want next offset 5", ps)
	}
}

func TestOffsetsAreCommittedOnlyAfterTheFlushSucceeded(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, failing: 2}
	c, fc, _ := newTestConsumer(t, ch, time.Second)
	c.backlog = logRecords(10)
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.flush(context.Background(), triggerInterval); err == nil {
			t.Fatal("flush succeeded while ClickHouse fails")
		}
		if commits, _ := fc.get(); len(commits) != 0 {
			t.Fatalf("committed %v after a failed flush", commits)
		}
	}
	if err := c.flush(context.Background(), triggerInterval); err != nil {
		t.Fatal(err)
	}
	commits, rowsAt := fc.get()
	if len(commits) != 1 || !maps.EqualFunc(commits[0], offsetsOf("ingest.acme", 0, 10), maps.Equal) || rowsAt[0] != 10 {
		t.Fatalf("commits %v with %v rows in ClickHouse, want offset 10 committed after the 10 rows", commits, rowsAt)
	}
	// Nothing new: nothing to commit.
	if err := c.flush(context.Background(), triggerInterval); err != nil {
		t.Fatal(err)
	}
	if commits, _ := fc.get(); len(commits) != 1 {
		t.Errorf("%d commits after a flush of nothing new, want 1", len(commits))
	}
}

func TestAFailedCommitIsCountedAndMadeAgainAtTheNextFlush(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	c, fc, _ := newTestConsumer(t, ch, time.Second)
	fc.failing = 1
	c.backlog = logRecords(3)
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(context.Background(), triggerInterval); err != nil {
		t.Fatalf("flush with a failing commit = %v, want nil (the ledger keeps restarts exact)", err)
	}
	if got := testutil.ToFloat64(c.m.commitErrors); got != 1 {
		t.Errorf("commit_errors_total = %v, want 1", got)
	}
	if err := c.flush(context.Background(), triggerInterval); err != nil {
		t.Fatal(err)
	}
	if commits, _ := fc.get(); len(commits) != 1 || !maps.EqualFunc(commits[0], offsetsOf("ingest.acme", 0, 3), maps.Equal) {
		t.Errorf("commits %v, want offset 3 committed by the next flush", commits)
	}
}

func TestARevokeDropsWhatIsBufferedAndTheBacklogAndReadsTheLedgerAgain(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	c, fc, _ := newTestConsumer(t, ch, time.Second)
	recs := logRecords(15)
	c.backlog = recs[:10]
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.backlog = recs[10:] // polled, not taken yet
	rebalance(c)
	if c.f.holding() || len(c.backlog) != 0 || len(c.parts) != 0 || c.ledger.loaded() {
		t.Errorf("after a revoke: holding %v, backlog %d, partitions %d, ledger loaded %v; want everything dropped",
			c.f.holding(), len(c.backlog), len(c.parts), c.ledger.loaded())
	}
	if got := testutil.ToFloat64(c.m.discarded); got != 15 {
		t.Errorf("records_discarded_total = %v, want 15", got)
	}
	if commits, _ := fc.get(); len(commits) != 0 || len(ch.inserted()) != 0 {
		t.Errorf("a revoke inserted %v and committed %v, want nothing", ch.inserted(), commits)
	}
	// The next session reads from the committed offset and the ledger again.
	c.backlog = logRecords(15)
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(context.Background(), triggerInterval); err != nil {
		t.Fatal(err)
	}
	if ch.reads != 2 || len(ch.inserted()) != 15 {
		t.Errorf("%d ledger reads, %d rows; want a read per session and the 15 rows once", ch.reads, len(ch.inserted()))
	}
}

// TestARevokeDuringAFailingFlushAbandonsItAndTheLedgerSkipsWhatLanded: an INSERT that landed
// but failed for the client is abandoned at a revoke; its records, read again, are skipped.
func TestARevokeDuringAFailingFlushAbandonsItAndTheLedgerSkipsWhatLanded(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, failing: 1, landed: true}
	c, fc, _ := newTestConsumer(t, ch, time.Second)
	c.backlog = logRecords(10)
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(context.Background(), triggerInterval); err == nil {
		t.Fatal("flush succeeded, want the ambiguous failure")
	}
	rebalance(c)
	if c.f.pending {
		t.Fatal("the failed flush is still pending after a revoke")
	}
	c.backlog = logRecords(10) // read again from the committed offset: none
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(context.Background(), triggerInterval); err != nil {
		t.Fatal(err)
	}
	if got := len(ch.inserted()); got != 10 {
		t.Errorf("%d rows in ClickHouse, want the 10 once", got)
	}
	if got := testutil.ToFloat64(c.m.recordsSkipped.WithLabelValues("logs")); got != 10 {
		t.Errorf("records_skipped_total{table=logs} = %v, want 10", got)
	}
	if commits, _ := fc.get(); len(commits) != 1 || !maps.EqualFunc(commits[0], offsetsOf("ingest.acme", 0, 10), maps.Equal) {
		t.Errorf("commits %v, want offset 10 once the skip is processed", commits)
	}
}

func TestTheLoopFlushesAndCommitsFlushIntervalAfterTheFirstRecord(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	c, fc, g := newTestConsumer(t, ch, 50*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx) }()
	start := time.Now()
	g.polls <- fetchesOf(logRecords(5))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if commits, _ := fc.get(); len(commits) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing committed within 10 s")
		}
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("flushed after %v, before the 50 ms interval", took)
	}
	cancel()
	<-done
	commits, rowsAt := fc.get()
	if len(commits) != 1 || !maps.EqualFunc(commits[0], offsetsOf("ingest.acme", 0, 5), maps.Equal) || rowsAt[0] != 5 {
		t.Errorf("commits %v at %v rows, want offset 5 after the 5 rows", commits, rowsAt)
	}
	if got := testutil.ToFloat64(c.m.flushes.WithLabelValues(triggerInterval)); got != 1 {
		t.Errorf("flushes_total{trigger=interval} = %v, want 1", got)
	}
	if !g.left.Load() {
		t.Error("the loop did not leave the group at shutdown")
	}
}

func TestTheLoopFlushesAndCommitsWhatItHoldsAtShutdown(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	c, fc, g := newTestConsumer(t, ch, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx) }()
	g.polls <- fetchesOf(logRecords(7))
	for deadline := time.Now().Add(10 * time.Second); g.allowed.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the loop took no step within 10 s")
		}
	}
	cancel()
	<-done
	if commits, _ := fc.get(); len(commits) != 1 || !maps.EqualFunc(commits[0], offsetsOf("ingest.acme", 0, 7), maps.Equal) || len(ch.inserted()) != 7 {
		t.Errorf("at shutdown: rows %v, commits %v; want the 7 rows, then offset 7", ch.inserted(), commits)
	}
	if got := testutil.ToFloat64(c.m.flushes.WithLabelValues(triggerShutdown)); got != 1 {
		t.Errorf("flushes_total{trigger=shutdown} = %v, want 1", got)
	}
}

// TestTheConsumerJoinsAKafkaGroupLoadsAndCommitsAfterTheFlush runs the loop against kfake with
// the loader's group options: it joins, loads each record once, and commits what it loaded.
func TestTheConsumerJoinsAKafkaGroupLoadsAndCommitsAfterTheFlush(t *testing.T) {
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "ingest.acme"))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for p := range int32(2) {
		for _, r := range logRecords(10) {
			r.Partition, r.Offset = p, 0
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	c, _, _ := newTestConsumer(t, ch, 100*time.Millisecond)
	cfg := DefaultConfig()
	cfg.Brokers = kf.ListenAddrs()
	cl, err := kgo.NewClient(groupOptions(cfg, c, discardLogger())...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c.cl, c.commits = cl, kafkaCommitter{cl}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.run(runCtx) }()

	adm := kadm.NewClient(prod)
	for {
		offs, err := adm.FetchOffsets(ctx, cfg.Group)
		if err == nil {
			o0, _ := offs.Lookup("ingest.acme", 0)
			o1, _ := offs.Lookup("ingest.acme", 1)
			if o0.At == 10 && o1.At == 10 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("offsets not committed within a minute: %v %v", offs, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !c.joined.Load() {
		t.Error("joined is false after an assignment")
	}
	if got := len(ch.inserted()); got != 20 {
		t.Errorf("%d rows inserted before the commit of offset 10 in both partitions, want 20", got)
	}
	stop()
	<-done
}

// TestLagIsExportedPerTopicInRecordsAndSeconds: per tenant topic, the records between the
// processed offset and the high watermark, and how old the last processed record of the most
// lagging partition is; a caught-up topic shows 0, and a topic no longer held has no series.
func TestLagIsExportedPerTopicInRecordsAndSeconds(t *testing.T) {
	c, _, _ := newTestConsumer(t, &fakeCH{ledger: map[ledgerKey]int64{}}, time.Second)
	old := time.Now().Add(-90 * time.Second)
	c.parts[topicPartition{"ingest.acme", 0}] = &partState{next: 10, lastTS: old}
	c.parts[topicPartition{"ingest.acme", 1}] = &partState{next: 5, lastTS: time.Now()}
	c.parts[topicPartition{"ingest.beta", 0}] = &partState{next: 7, lastTS: old}
	c.hwm[topicPartition{"ingest.acme", 0}] = 110
	c.hwm[topicPartition{"ingest.acme", 1}] = 25
	c.hwm[topicPartition{"ingest.beta", 0}] = 7
	c.updateLag()
	if got := testutil.ToFloat64(c.m.topicLag.WithLabelValues("ingest.acme")); got != 120 {
		t.Errorf("acme lag %v records, want 120", got)
	}
	if got := testutil.ToFloat64(c.m.topicLagSeconds.WithLabelValues("ingest.acme")); got < 89 || got > 95 {
		t.Errorf("acme lag %v s, want about 90 (its most lagging partition)", got)
	}
	if r, s := testutil.ToFloat64(c.m.topicLag.WithLabelValues("ingest.beta")), testutil.ToFloat64(c.m.topicLagSeconds.WithLabelValues("ingest.beta")); r != 0 || s != 0 {
		t.Errorf("caught-up beta: %v records, %v s, want 0 and 0", r, s)
	}
	if got := testutil.ToFloat64(c.m.lag); got != 120 {
		t.Errorf("total lag %v, want 120", got)
	}
	delete(c.parts, topicPartition{"ingest.beta", 0})
	c.updateLag()
	if n := testutil.CollectAndCount(c.m.topicLag); n != 1 {
		t.Errorf("%d topic lag series after beta was revoked, want 1", n)
	}
}
