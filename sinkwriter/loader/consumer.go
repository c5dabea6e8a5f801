package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/backoff"
	"github.com/ingestdev/ingest/internal/tenant"
	"github.com/ingestdev/ingest/record"
)

// maxPollRecords bounds the records taken from the client per poll: what waits, unbuffered,
// while a flush retries.
const maxPollRecords = 10_000

// groupClient is what the consumer loop needs of a franz-go consumer-group client created
// with kgo.BlockRebalanceOnPoll: *kgo.Client.
type groupClient interface {
	PollRecords(ctx context.Context, maxPollRecords int) kgo.Fetches
	AllowRebalance()
	LeaveGroupContext(ctx context.Context) error
	PauseFetchTopics(topics ...string) []string
	ResumeFetchTopics(topics ...string)
}

type topicPartition struct {
	topic     string
	partition int32
}

// partState is what the loop knows of one assigned partition in this group session.
type partState struct {
	next      int64     // offset after the last processed record
	epoch     int32     // leader epoch of that record
	committed int64     // offset last committed by this session, -1 for none
	lastTS    time.Time // Kafka timestamp of that record (when it was written)
}

// consumer is the loop of the loader: it polls the consumer group, asks the ledger which
// records to skip, hands the others to the flusher, flushes when the flusher says so, commits
// after every successful flush, and drops everything it holds when partitions are revoked.
//
// Concurrency: run's goroutine (the loop) owns the flusher, the ledger, the retries and every
// field below step. franz-go calls the group callbacks (onAssigned, onRevoked, onLost) on its
// own goroutines; they only set the flags under step and joined. The loop holds step for every
// processing step (taking polled records, a flush attempt, a commit), never while it polls or
// sleeps: a callback therefore never runs in the middle of a flush attempt, and a rebalance
// takes effect (applyRebalance) between steps. With kgo.BlockRebalanceOnPoll a rebalance waits
// for AllowRebalance, which the loop calls after every step.
type consumer struct {
	cl              groupClient
	commits         committer
	ledger          *ledger
	inc             *incarnations
	f               *flusher
	retries         *retries // shared with f
	backoff         backoff.Policy
	shutdownTimeout time.Duration
	m               *metrics
	log             *slog.Logger
	joined          *atomic.Bool // in a group generation: set at an assignment, cleared when lost

	step     sync.Mutex
	revoked  bool // guarded by step: partitions were revoked or lost; drop everything
	assigned bool // guarded by step: a new session began; read the ledger again
	// assignment is the session's partitions, guarded by step (set at an assignment).
	assignment map[string][]int32

	backlog []*kgo.Record // polled, not yet taken
	scanned bool          // the backlog's topics were looked at for incarnation checks
	recheck []string      // topics to check before any record is taken
	parts   map[topicPartition]*partState
	hwm     map[topicPartition]int64 // high watermarks of the last fetches, for the lag
	// lagTopics are the topics with lag series, deleted when the topic is no longer assigned;
	// lagAt is when the lag gauges were last set (every lagEvery at most: the loop runs per
	// poll, the gauges cost a label lookup per topic).
	lagTopics map[string]bool
	lagAt     time.Time
}

func newConsumer(cfg Config, led *ledger, inc *incarnations, f *flusher, rt *retries, m *metrics, log *slog.Logger, joined *atomic.Bool) *consumer {
	return &consumer{
		ledger: led, inc: inc, f: f, retries: rt, backoff: retryPolicy(cfg), shutdownTimeout: cfg.ShutdownTimeout,
		m: m, log: log, joined: joined,
		parts: make(map[topicPartition]*partState), hwm: make(map[topicPartition]int64), lagTopics: map[string]bool{},
	}
}

func (c *consumer) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.step.Lock()
	c.assigned = true
	c.assignment = make(map[string][]int32, len(assigned))
	for topic, ps := range assigned {
		c.assignment[topic] = append([]int32(nil), ps...)
	}
	c.step.Unlock()
	c.joined.Store(true)
	c.log.Info("partitions assigned", "partitions", countPartitions(assigned))
}

func (c *consumer) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	c.step.Lock()
	c.revoked = true
	c.step.Unlock()
	c.log.Info("partitions revoked", "partitions", countPartitions(revoked))
}

func (c *consumer) onLost(ctx context.Context, cl *kgo.Client, lost map[string][]int32) {
	c.joined.Store(false)
	c.onRevoked(ctx, cl, lost)
}

func countPartitions(m map[string][]int32) int {
	n := 0
	for _, ps := range m {
		n += len(ps)
	}
	return n
}

// applyRebalance applies what the callbacks flagged. A revocation drops everything held: the
// next owner (maybe this member again) reads from the committed offsets, and the ledger keeps
// it exact. The caller holds step.
func (c *consumer) applyRebalance() {
	if c.revoked {
		c.revoked = false
		if dropped := len(c.backlog) + c.f.drop(); dropped > 0 {
			c.m.discarded.Add(float64(dropped))
			c.log.Info("dropped buffered records at a rebalance; they are read again", "records", dropped)
		}
		c.backlog = nil
		c.retries.n = 0
		clear(c.parts)
		clear(c.hwm)
		c.ledger.forget()
		clear(c.inc.checked)
		c.scanned, c.recheck = false, nil
	}
	if c.assigned {
		c.assigned = false
		c.ledger.forget() // read it again before the first record of this session
		// Check every topic again before its first record; the held topics still assigned
		// are checked at once (they send no record while paused), the others are let go.
		recheck, released := c.inc.newSession(c.assignment)
		if len(released) > 0 {
			c.cl.ResumeFetchTopics(released...)
		}
		c.scanned, c.recheck = false, recheck
	}
}

// run polls, buffers and flushes until ctx is done, then shuts down.
func (c *consumer) run(ctx context.Context) {
	// Work started before ctx ends may finish within shutdownTimeout: an INSERT is never cut
	// off by ctx itself, so this process never re-inserts a block whose fate it does not know.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(c.shutdownTimeout, cancel)
		context.AfterFunc(wctx, func() { t.Stop() })
	})
	defer stop()

	for ctx.Err() == nil {
		if !c.f.pending && len(c.backlog) == 0 {
			if wait := c.f.wait(time.Now()); wait > 0 && !c.poll(ctx, wait) {
				return // client closed
			}
		}
		c.step.Lock()
		c.applyRebalance()
		err := c.drain(wctx)
		if err == nil && c.f.due(time.Now()) {
			err = c.flush(wctx, triggerInterval)
		}
		if now := time.Now(); now.Sub(c.lagAt) >= lagEvery {
			c.lagAt = now
			c.updateLag()
		}
		attempt := c.retries.n
		c.step.Unlock()
		c.cl.AllowRebalance()
		if err != nil && c.backoff.Wait(ctx, attempt-1) != nil {
			break
		}
	}
	c.shutdown(wctx)
}

// poll waits up to wait for records and adds them to the backlog. It reports false when the
// client is closed.
func (c *consumer) poll(ctx context.Context, wait time.Duration) bool {
	pctx, cancel := context.WithTimeout(ctx, wait)
	fs := c.cl.PollRecords(pctx, maxPollRecords)
	cancel()
	if c.fetchErrors(fs) {
		return false
	}
	c.step.Lock()
	defer c.step.Unlock()
	c.applyRebalance()
	fs.EachRecord(func(rec *kgo.Record) { c.backlog = append(c.backlog, rec) })
	c.scanned = false
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		c.hwm[topicPartition{p.Topic, p.Partition}] = p.HighWatermark
	})
	return true
}

// shutdown flushes what is held and commits, retrying until wctx ends; then leaves the group.
func (c *consumer) shutdown(wctx context.Context) {
	for {
		c.step.Lock()
		c.applyRebalance()
		err := c.drain(wctx)
		if err == nil && c.f.holding() {
			err = c.flush(wctx, triggerShutdown)
		}
		attempt := c.retries.n
		c.step.Unlock()
		c.cl.AllowRebalance()
		if err == nil {
			break
		}
		if c.backoff.Wait(wctx, attempt-1) != nil {
			c.log.Warn("shutdown deadline passed before the last flush; its records are read again at the next start", "timeout", c.shutdownTimeout)
			break
		}
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(wctx), 5*time.Second)
	defer cancel()
	if err := c.cl.LeaveGroupContext(lctx); err != nil {
		c.log.Warn("cannot leave the consumer group cleanly", "err", err)
	}
	c.log.Info("stopped")
}

// fetchErrors logs the errors of a poll and reports whether the client is closed.
func (c *consumer) fetchErrors(fs kgo.Fetches) (closed bool) {
	for _, fe := range fs.Errors() {
		switch {
		case errors.Is(fe.Err, kgo.ErrClientClosed):
			return true
		case errors.Is(fe.Err, context.Canceled), errors.Is(fe.Err, context.DeadlineExceeded):
		default:
			c.log.Warn("fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
	}
	return false
}

// lagEvery is how often the loop refreshes the lag gauges at most.
const lagEvery = 250 * time.Millisecond

// updateLag sets the lag gauges from the last high watermarks: the records not yet processed,
// in all and per topic, and per topic how far behind the loader reads, in seconds: now minus
// the Kafka time of the last record processed in its most lagging partition (0 when caught up).
// Topics no longer assigned lose their series.
func (c *consumer) updateLag() {
	var lag int64
	now := time.Now()
	records, seconds := map[string]int64{}, map[string]float64{}
	for tp := range c.parts {
		records[tp.topic] += 0 // every assigned topic has a series, 0 when caught up
	}
	for tp, hwm := range c.hwm {
		ps, ok := c.parts[tp]
		if !ok || hwm <= ps.next {
			continue
		}
		lag += hwm - ps.next
		records[tp.topic] += hwm - ps.next
		if !ps.lastTS.IsZero() {
			seconds[tp.topic] = max(seconds[tp.topic], now.Sub(ps.lastTS).Seconds())
		}
	}
	c.m.lag.Set(float64(lag))
	for topic := range c.lagTopics {
		if _, ok := records[topic]; !ok {
			c.m.topicLag.DeleteLabelValues(topic)
			c.m.topicLagSeconds.DeleteLabelValues(topic)
			delete(c.lagTopics, topic)
		}
	}
	for topic, n := range records {
		c.m.topicLag.WithLabelValues(topic).Set(float64(n))
		c.m.topicLagSeconds.WithLabelValues(topic).Set(seconds[topic])
		c.lagTopics[topic] = true
	}
}

// drain finishes a pending flush, then moves the backlog into the flusher, flushing whenever
// it is full. On error the records not yet taken stay in the backlog.
func (c *consumer) drain(ctx context.Context) error {
	if c.f.pending { // finish the flush that failed before taking more
		if err := c.flush(ctx, ""); err != nil {
			return err
		}
	}
	if len(c.backlog) > 0 || len(c.recheck) > 0 {
		if !c.ledger.loaded() {
			if err := c.ledger.load(ctx); err != nil {
				return c.retries.fail("cannot read the offsets ledger", err)
			}
			c.retries.recovered()
			clear(c.parts)
		}
		if err := c.checkTopics(ctx); err != nil {
			return c.retries.fail("cannot check which incarnation of the topics the tables hold", err)
		}
	}
	for len(c.backlog) > 0 {
		rec := c.backlog[0]
		c.backlog[0] = nil
		c.backlog = c.backlog[1:]
		if c.inc.isHeld(rec.Topic) {
			continue // not processed: neither skipped nor committed
		}
		c.take(rec)
		if trigger := c.f.full(); trigger != "" {
			if err := c.flush(ctx, trigger); err != nil {
				return err
			}
		}
	}
	c.backlog = nil
	return nil
}

// checkTopics checks the incarnation of every topic of the backlog not checked in this
// session, of every topic whose offsets went back (recreated while assigned?), and of the held
// topics of a new session; it pauses the topics found in conflict and resumes those released.
// On error the topics stay to be checked.
func (c *consumer) checkTopics(ctx context.Context) error {
	if !c.scanned {
		queued := make(map[string]bool, len(c.recheck))
		for _, topic := range c.recheck {
			queued[topic] = true
		}
		next := make(map[topicPartition]int64)
		for _, rec := range c.backlog {
			tp := topicPartition{rec.Topic, rec.Partition}
			exp, ok := next[tp]
			if !ok {
				if ps, found := c.parts[tp]; found {
					exp, ok = ps.next, true
				}
			}
			next[tp] = rec.Offset + 1
			if ok && rec.Offset < exp && !queued[rec.Topic] && !c.inc.isHeld(rec.Topic) {
				c.log.Warn("a partition's offsets went back; checking the topic's incarnation again",
					"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "expected", exp)
				c.inc.uncheck(rec.Topic)
			}
			if !queued[rec.Topic] && c.inc.needsCheck(rec.Topic) {
				queued[rec.Topic] = true
				c.recheck = append(c.recheck, rec.Topic)
			}
		}
		c.scanned = true
	}
	if len(c.recheck) == 0 {
		return nil
	}
	hold, release, err := c.inc.check(ctx, c.recheck, c.ledger.offsets)
	if len(hold) > 0 {
		c.cl.PauseFetchTopics(hold...)
	}
	if len(release) > 0 {
		c.cl.ResumeFetchTopics(release...)
	}
	if err != nil {
		return err
	}
	c.recheck = nil
	c.retries.recovered()
	return nil
}

// take routes one record: to a table's buffer, to the dead letters when it names no table, or
// nowhere when the ledger shows its table holds it already.
func (c *consumer) take(rec *kgo.Record) {
	tp := topicPartition{rec.Topic, rec.Partition}
	ps, ok := c.parts[tp]
	if !ok {
		ps = &partState{next: -1, committed: -1}
		c.parts[tp] = ps
	}
	ps.next, ps.epoch, ps.lastTS = rec.Offset+1, rec.LeaderEpoch, rec.Timestamp
	c.f.processed(time.Now())
	t, err := route(rec.Topic, rec.Value)
	switch {
	case err != nil:
		c.f.addCorrupt(rec, err)
	case c.ledger.skip(t, rec):
	default:
		c.f.add(t, rec)
	}
}

// route returns the table of an encoded record of topic from its header, without decoding it,
// or the header's error (the record is corrupt): the shadow table set for a tenant's shadow
// topic, else the live one.
func route(topic string, v []byte) (table, error) {
	h, err := record.PeekHeader(v)
	if err != nil {
		return 0, err
	}
	t, ok := tableOf(h.Signal, tenant.IsShadowTopic(topic))
	if !ok { // cannot happen: PeekHeader returns known signals only
		return 0, fmt.Errorf("%w: signal %d names no table", record.ErrCorrupt, h.Signal)
	}
	return t, nil
}

// flush flushes the flusher, then commits what was processed: offsets are committed only
// after ClickHouse acknowledged every INSERT they cover.
func (c *consumer) flush(ctx context.Context, trigger string) error {
	if err := c.f.flush(ctx, trigger); err != nil {
		return err
	}
	c.commit(ctx)
	return nil
}
