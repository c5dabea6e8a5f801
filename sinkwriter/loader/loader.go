package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// maxPollRecords bounds the records taken from the client per poll: what waits, unbuffered,
// while a flush retries.
const maxPollRecords = 10_000

// recordOverhead is added to a record's key and value length when counting buffered bytes.
const recordOverhead = 64

// Dead-letter headers. Every dead-lettered record carries all of them; its key and value are
// the original record's.
const (
	HeaderReason          = "reason"           // ReasonRecordCorrupt or ReasonInsertRejected
	HeaderError           = "error"            // the error message
	HeaderSourceTopic     = "source_topic"     // where the record was read
	HeaderSourcePartition = "source_partition" // decimal
	HeaderSourceOffset    = "source_offset"    // decimal
	HeaderTable           = "table"            // the destination table, when known
)

// errRetry means a flush step failed transiently: the loader keeps its state, lets a pending
// rebalance through, waits a backoff and tries again.
var errRetry = errors.New("transient failure, retrying")

// Loader consumes the tenant topics as one consumer group and loads every record into
// ClickHouse exactly once (see the package documentation). Create it with New and run it with
// Run, once.
type Loader struct {
	cfg Config
	m   *metrics
	log *slog.Logger
}

// New returns a loader for cfg (zero fields take their defaults) after validating it. Its
// metrics are registered with reg.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Loader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot configure the loader: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("cannot register the loader's metrics: %w", err)
	}
	return &Loader{cfg: cfg.withDefaults(), m: m, log: log}, nil
}

// ClickHouseOptions returns the clickhouse-go options of cfg (after defaults), for the loader
// and `ingest migrate`.
func ClickHouseOptions(cfg Config) *clickhouse.Options {
	cfg = cfg.withDefaults()
	opts := &clickhouse.Options{
		Addr:        cfg.ClickHouseAddr,
		Auth:        clickhouse.Auth{Database: "default", Username: cfg.Username, Password: cfg.Password},
		DialTimeout: 5 * time.Second,
		ClientInfo:  clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "ingest-loader", Version: "1"}}},
	}
	if cfg.Compression == "lz4" {
		opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	}
	return opts
}

// Run consumes and loads until ctx is done, then flushes what it holds and commits within
// ShutdownTimeout, and leaves the group. Before consuming it applies the schema migrations
// (unless SkipMigrate) and creates the dead-letter topic if needed, retrying while ClickHouse or
// Kafka cannot be reached. It returns an error only for what retrying cannot fix: a refused
// migration, a Kafka client that cannot be built. Once consuming, it never fails: transient
// errors are retried with backoff, data errors are dead-lettered.
func (l *Loader) Run(ctx context.Context) error {
	conn, err := clickhouse.Open(ClickHouseOptions(l.cfg))
	if err != nil {
		return fmt.Errorf("cannot open ClickHouse %q: %w", l.cfg.ClickHouseAddr, err)
	}
	defer conn.Close()
	if !l.cfg.SkipMigrate {
		if err := l.migrate(ctx, conn); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}

	r := &run{
		l:      l,
		cfg:    l.cfg,
		m:      l.m,
		log:    l.log,
		ins:    &chInserter{conn: conn, database: l.cfg.Database, timeout: l.cfg.InsertTimeout},
		ledger: &chLedger{conn: conn, database: l.cfg.Database},
		parts:  make(map[topicPartition]*partState),
		hwm:    make(map[topicPartition]int64),
	}
	for t := range numTables {
		r.bufs[t] = &tableBuf{t: t, cols: newColumns(t)}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(l.cfg.Brokers...),
		kgo.ClientID("ingest-loader"),
		kgo.ConsumerGroup(l.cfg.Group),
		kgo.ConsumeTopics(l.cfg.TopicRegex),
		kgo.ConsumeRegex(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// Eager: a rebalance revokes every partition, so the loader drops everything it holds
		// and reads again from the committed offsets and the ledger; no partial revocation.
		kgo.Balancers(kgo.StickyBalancer()),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onRevoked),
		kgo.OnPartitionsCallbackBlocked(r.onBlocked),
		kgo.RebalanceTimeout(l.cfg.RebalanceTimeout),
		kgo.SessionTimeout(l.cfg.SessionTimeout),
		kgo.HeartbeatInterval(l.cfg.HeartbeatInterval),
		kgo.MetadataMinAge(min(l.cfg.TopicRefreshInterval, 5*time.Second)),
		kgo.MetadataMaxAge(l.cfg.TopicRefreshInterval),
		kgo.FetchMaxBytes(l.cfg.FetchMaxBytes),
		kgo.WithLogger(kgoLogger{l.log}),
	)
	if err != nil {
		return fmt.Errorf("cannot create the Kafka client for %q: %w", l.cfg.Brokers, err)
	}
	r.cl = cl
	r.dlq = &kafkaDeadLetters{cl: cl, topic: l.cfg.DeadLetterTopic}
	defer cl.Close()
	if err := l.ensureDeadLetterTopic(ctx, cl); err != nil {
		return nil // ctx ended while Kafka was unreachable
	}
	l.log.Info("loading", "brokers", l.cfg.Brokers, "group", l.cfg.Group, "topics", l.cfg.TopicRegex,
		"clickhouse", l.cfg.ClickHouseAddr, "database", l.cfg.Database)
	r.loop(ctx)
	return nil
}

// migrate applies the migrations, retrying while ClickHouse cannot be reached. A server's
// refusal (an exception) or a checksum mismatch is returned.
func (l *Loader) migrate(ctx context.Context, conn driver.Conn) error {
	for attempt := 0; ; attempt++ {
		applied, err := schema.Migrate(ctx, conn, l.cfg.Database)
		for _, m := range applied {
			l.log.Info("applied migration", "version", m.Version, "name", m.Name, "database", l.cfg.Database)
		}
		if err == nil {
			return nil
		}
		var exc *clickhouse.Exception
		if errors.Is(err, schema.ErrChecksumMismatch) || errors.As(err, &exc) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		l.log.Warn("cannot migrate yet, retrying", "attempt", attempt+1, "err", err)
		if !sleep(ctx, backoff(l.cfg, attempt)) {
			return nil
		}
	}
}

// ensureDeadLetterTopic creates the dead-letter topic unless it exists, retrying while Kafka
// cannot be reached. A refusal other than "exists" is logged: the topic may be provisioned out
// of band. It returns an error only when ctx ends.
func (l *Loader) ensureDeadLetterTopic(ctx context.Context, cl *kgo.Client) error {
	adm := kadm.NewClient(cl)
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := adm.CreateTopic(cctx, 1, l.cfg.DeadLetterReplicationFactor, nil, l.cfg.DeadLetterTopic)
		cancel()
		var kerrp *kerr.Error
		switch {
		case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
			return nil
		case errors.As(err, &kerrp):
			l.log.Warn("cannot create the dead-letter topic; assuming it is provisioned", "topic", l.cfg.DeadLetterTopic, "err", err)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.log.Warn("cannot reach Kafka yet, retrying", "attempt", attempt+1, "err", err)
		if !sleep(ctx, backoff(l.cfg, attempt)) {
			return ctx.Err()
		}
	}
}

// backoff returns the wait before retry attempt+1: full jitter over
// [RetryMin, min(RetryMax, RetryMin×2^attempt)].
func backoff(cfg Config, attempt int) time.Duration {
	attempt = max(attempt, 0)
	hi := cfg.RetryMax
	if attempt < 30 {
		hi = min(cfg.RetryMax, cfg.RetryMin<<attempt)
	}
	if hi <= cfg.RetryMin {
		return cfg.RetryMin
	}
	return cfg.RetryMin + rand.N(hi-cfg.RetryMin+1)
}

// sleep waits d or until ctx is done, reporting whether it waited the whole d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type topicPartition struct {
	topic     string
	partition int32
}

// partState is what the loader knows of one assigned partition in this group session.
type partState struct {
	ledger    [numTables]int64 // highest offset each table holds (the ledger), -1 for none
	next      int64            // offset after the last processed record
	epoch     int32            // leader epoch of that record
	committed int64            // offset last committed by this session, -1 for none
}

// tableBuf holds the records waiting for one table's next INSERT, in the order read (offset
// order within each partition).
type tableBuf struct {
	t       table
	recs    []*kgo.Record
	cols    *columns
	built   bool  // cols holds recs, and every rec decoded
	tried   bool  // an attempt failed: reconcile recs with the ledger before the next
	refused error // the last attempt was refused for a data reason: bisect next
}

// deadLetter is a record to write to the dead-letter topic.
type deadLetter struct {
	rec    *kgo.Record
	reason string
	err    error
	table  string
}

// run is the state of one Run. Everything but the fields marked otherwise belongs to the Run
// goroutine, under mu; the group callbacks take mu too, so that a rebalance never overlaps a
// flush.
type run struct {
	l   *Loader
	cfg Config
	m   *metrics
	log *slog.Logger
	cl  *kgo.Client

	ins    inserter
	ledger ledgerReader
	dlq    deadLetterWriter

	// yield is set when a rebalance waits for this member: a failing flush stops retrying and
	// lets it through. Atomic: set by callbacks without mu.
	yield atomic.Bool

	mu       sync.Mutex
	revoked  bool // set by a revoke or lost callback: drop everything
	backlog  []*kgo.Record
	bufs     [numTables]*tableBuf
	corrupt  []deadLetter // records routed to no table
	bytes    int          // buffered record bytes
	rows     int          // buffered records
	firstAt  time.Time    // when the first buffered record arrived; zero when empty
	pending  bool         // a flush has started and not finished
	trigger  string       // what started the pending flush
	attempt  int          // failed attempts of the pending flush, for backoff
	lastErr  error        // of the last failed concurrent attempt, for the log
	parts    map[topicPartition]*partState
	ledgered bool // parts of this session have their ledger loaded
	hwm      map[topicPartition]int64
}

func (r *run) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	r.mu.Lock()
	r.ledgered = false // read the ledger again before the first record of this session
	r.mu.Unlock()
	r.yield.Store(false)
	r.log.Info("partitions assigned", "partitions", countPartitions(assigned))
}

func (r *run) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	r.yield.Store(true) // a flush in progress stops retrying and lets us in
	r.mu.Lock()
	r.revoked = true
	r.mu.Unlock()
	r.yield.Store(false)
	r.log.Info("partitions revoked", "partitions", countPartitions(revoked))
}

func (r *run) onBlocked(context.Context, *kgo.Client) { r.yield.Store(true) }

func countPartitions(m map[string][]int32) int {
	n := 0
	for _, ps := range m {
		n += len(ps)
	}
	return n
}

// applyRevoke drops everything held when partitions were revoked: the next owner (maybe this
// member again) reads from the committed offsets, and the ledger keeps it exact.
func (r *run) applyRevoke() {
	if !r.revoked {
		return
	}
	r.revoked = false
	dropped := len(r.backlog) + r.rows + len(r.corrupt)
	if dropped > 0 {
		r.m.discarded.Add(float64(dropped))
		r.log.Info("dropped buffered records at a rebalance; they are read again", "records", dropped)
	}
	r.backlog = nil
	for _, b := range r.bufs {
		b.recs, b.built, b.tried, b.refused = nil, false, false, nil
		b.cols.reset()
	}
	r.corrupt = nil
	r.bytes, r.rows, r.firstAt = 0, 0, time.Time{}
	r.pending, r.attempt = false, 0
	clear(r.parts)
	clear(r.hwm)
	r.ledgered = false
	r.m.bufferedBytes.Set(0)
}

// loop polls, buffers and flushes until ctx is done, then shuts down.
func (r *run) loop(ctx context.Context) {
	// Work started before ctx ends may finish within ShutdownTimeout: an INSERT is never cut off
	// by ctx itself, so this process never re-inserts a block whose fate it does not know.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(r.cfg.ShutdownTimeout, cancel)
		context.AfterFunc(wctx, func() { t.Stop() })
	})
	defer stop()

	for ctx.Err() == nil {
		r.mu.Lock()
		idle := !r.pending && len(r.backlog) == 0
		wait := r.cfg.FlushInterval
		if !r.firstAt.IsZero() {
			wait = time.Until(r.firstAt.Add(r.cfg.FlushInterval))
		}
		r.mu.Unlock()

		if idle && wait > 0 {
			pctx, pcancel := context.WithTimeout(ctx, wait)
			fs := r.cl.PollRecords(pctx, maxPollRecords)
			pcancel()
			if r.fetchErrors(fs) {
				return // client closed
			}
			r.mu.Lock()
			r.applyRevoke()
			fs.EachRecord(func(rec *kgo.Record) { r.backlog = append(r.backlog, rec) })
			fs.EachPartition(func(p kgo.FetchTopicPartition) {
				r.hwm[topicPartition{p.Topic, p.Partition}] = p.HighWatermark
			})
			r.mu.Unlock()
		}

		r.mu.Lock()
		r.applyRevoke()
		err := r.drain(wctx)
		if err == nil && !r.firstAt.IsZero() && time.Since(r.firstAt) >= r.cfg.FlushInterval {
			err = r.flush(wctx, triggerInterval)
		}
		r.updateLag()
		attempt := r.attempt
		r.mu.Unlock()
		r.cl.AllowRebalance()
		if err != nil && !sleep(ctx, backoff(r.cfg, attempt-1)) {
			break
		}
	}
	r.shutdown(wctx)
}

// shutdown flushes what is held and commits, retrying until wctx ends; then leaves the group.
func (r *run) shutdown(wctx context.Context) {
	for {
		r.mu.Lock()
		r.applyRevoke()
		err := r.drain(wctx)
		if err == nil && (r.pending || !r.firstAt.IsZero()) {
			err = r.flush(wctx, triggerShutdown)
		}
		attempt := r.attempt
		r.mu.Unlock()
		r.cl.AllowRebalance()
		if err == nil {
			break
		}
		if !sleep(wctx, backoff(r.cfg, attempt-1)) {
			r.log.Warn("shutdown deadline passed before the last flush; its records are read again at the next start", "timeout", r.cfg.ShutdownTimeout)
			break
		}
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(wctx), 5*time.Second)
	defer cancel()
	if err := r.cl.LeaveGroupContext(lctx); err != nil {
		r.log.Warn("cannot leave the consumer group cleanly", "err", err)
	}
	r.log.Info("stopped")
}

// fetchErrors logs the errors of a poll and reports whether the client is closed.
func (r *run) fetchErrors(fs kgo.Fetches) (closed bool) {
	for _, fe := range fs.Errors() {
		switch {
		case errors.Is(fe.Err, kgo.ErrClientClosed):
			return true
		case errors.Is(fe.Err, context.Canceled), errors.Is(fe.Err, context.DeadlineExceeded):
		default:
			r.log.Warn("fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
	}
	return false
}

// updateLag sets the lag gauge from the last high watermarks.
func (r *run) updateLag() {
	var lag int64
	for tp, hwm := range r.hwm {
		if ps, ok := r.parts[tp]; ok && hwm > ps.next {
			lag += hwm - ps.next
		}
	}
	r.m.lag.Set(float64(lag))
}

// drain moves the backlog into the table buffers, flushing whenever they are full. On error
// the records not yet taken stay in the backlog.
func (r *run) drain(ctx context.Context) error {
	if r.pending { // finish the flush that failed before taking more
		if err := r.flush(ctx, r.trigger); err != nil {
			return err
		}
	}
	for len(r.backlog) > 0 {
		rec := r.backlog[0]
		tp := topicPartition{rec.Topic, rec.Partition}
		ps, ok := r.parts[tp]
		if !ok {
			var err error
			if ps, err = r.partState(ctx, tp); err != nil {
				return err
			}
		}
		r.take(rec, ps)
		r.backlog[0] = nil
		r.backlog = r.backlog[1:]
		if trigger := r.full(); trigger != "" {
			if err := r.flush(ctx, trigger); err != nil {
				return err
			}
		}
	}
	r.backlog = nil
	return nil
}

// partState returns the state of a partition seen for the first time in this session, reading
// the ledger (once per session) to know what each table already holds.
func (r *run) partState(ctx context.Context, tp topicPartition) (*partState, error) {
	if !r.ledgered {
		led, err := r.ledger.read(ctx)
		if err != nil {
			r.attempt++
			r.logAttempt("cannot read the offsets ledger", err)
			return nil, errRetry
		}
		r.recovered()
		clear(r.parts)
		for k, off := range led {
			tp := topicPartition{k.topic, k.partition}
			ps := r.parts[tp]
			if ps == nil {
				ps = newPartState()
				r.parts[tp] = ps
			}
			ps.ledger[k.table] = off
		}
		r.ledgered = true
	}
	ps, ok := r.parts[tp]
	if !ok {
		ps = newPartState()
		r.parts[tp] = ps
	}
	return ps, nil
}

func newPartState() *partState {
	return &partState{ledger: [numTables]int64{-1, -1, -1}, next: -1, committed: -1}
}

// take routes one record: to a table's buffer, to the dead letters when it names no table, or
// nowhere when the ledger shows its table holds it already.
func (r *run) take(rec *kgo.Record, ps *partState) {
	ps.next, ps.epoch = rec.Offset+1, rec.LeaderEpoch
	if r.firstAt.IsZero() {
		r.firstAt = time.Now() // flush (or at least commit) within FlushInterval
	}
	t, ok := route(rec.Value)
	switch {
	case !ok:
		var scratch record.Record
		err := record.Decode(rec.Value, &scratch)
		if err == nil { // cannot happen: route accepts every decodable record
			err = errors.New("unroutable record")
		}
		r.corrupt = append(r.corrupt, deadLetter{rec: rec, reason: ReasonRecordCorrupt, err: err})
	case rec.Offset <= ps.ledger[t]:
		r.m.recordsSkipped.WithLabelValues(t.String()).Inc()
		return
	default:
		b := r.bufs[t]
		b.recs = append(b.recs, rec)
		b.built = false
		r.rows++
	}
	r.bytes += len(rec.Key) + len(rec.Value) + recordOverhead
	r.m.bufferedBytes.Set(float64(r.bytes))
}

// route returns the table of an encoded record from its header, without decoding it.
func route(v []byte) (table, bool) {
	if len(v) < 2 || v[0] != record.Version {
		return 0, false
	}
	return tableOf(record.Signal(v[1]))
}

// full returns the trigger of a flush the buffers need now, or "".
func (r *run) full() string {
	for _, b := range r.bufs {
		if len(b.recs) >= r.cfg.FlushRows {
			return triggerRows
		}
	}
	if r.bytes >= r.cfg.FlushBytes {
		return triggerBytes
	}
	return ""
}

// flush writes the dead letters and every table's buffer, then commits the offsets of
// everything processed. It is resumable: on errRetry what succeeded is not repeated (a table
// whose INSERT may or may not have landed is reconciled with the ledger first), and the caller
// calls it again after a backoff. It returns errRetry or ctx's error.
func (r *run) flush(ctx context.Context, trigger string) error {
	if !r.pending {
		r.pending, r.trigger = true, trigger
		r.m.flushes.WithLabelValues(trigger).Inc()
	}
	if len(r.corrupt) > 0 {
		if err := r.deadLetter(ctx, r.corrupt); err != nil {
			return err
		}
		r.corrupt = nil
	}
	// Build every table's block first (dead-lettering what does not decode), then send the
	// blocks concurrently: ClickHouse works on one while the loader encodes the next. Whatever
	// did not succeed at once (a transient error, a block refused for its data) is handled table
	// by table below.
	for _, b := range r.bufs {
		if len(b.recs) > 0 && !b.built && !b.tried && b.refused == nil {
			if err := r.build(ctx, b); err != nil {
				return err
			}
		}
	}
	if r.sendConcurrently(ctx) {
		r.attempt++
		r.logAttempt("cannot insert", r.lastErr)
		return errRetry
	}
	for _, b := range r.bufs {
		if err := r.flushTable(ctx, b); err != nil {
			return err
		}
	}
	r.commit(ctx)
	r.recovered()
	r.pending = false
	r.yield.Store(false)
	r.bytes, r.rows, r.firstAt = 0, 0, time.Time{}
	r.m.bufferedBytes.Set(0)
	return nil
}

// sendConcurrently makes the first INSERT attempt of every built table at once. A success
// empties the table's buffer; a data error is kept in refused for flushTable to bisect; a
// transient error marks the table tried. It reports whether a transient error happened.
func (r *run) sendConcurrently(ctx context.Context) (transient bool) {
	var (
		wg   sync.WaitGroup
		errs [numTables]error
		took [numTables]time.Duration
		sent [numTables]bool
	)
	for i, b := range r.bufs {
		if len(b.recs) == 0 || !b.built || b.tried || b.refused != nil {
			continue
		}
		sent[i] = true
		wg.Go(func() {
			start := time.Now()
			errs[i] = r.ins.insert(ctx, b.cols, 0, b.cols.n)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, b := range r.bufs {
		switch {
		case !sent[i]:
		case errs[i] == nil:
			r.inserted(b, took[i])
		case isDataError(errs[i]):
			b.refused = errs[i]
		default:
			b.tried = true
			r.m.insertRetries.WithLabelValues(b.t.String()).Inc()
			r.lastErr = fmt.Errorf("table %s: %w", b.t, errs[i])
			transient = true
		}
	}
	return transient
}

// inserted counts b's successful INSERT and empties b.
func (r *run) inserted(b *tableBuf, took time.Duration) {
	r.m.insertDuration.WithLabelValues(b.t.String()).Observe(took.Seconds())
	r.m.rowsInserted.WithLabelValues(b.t.String()).Add(float64(b.cols.n))
	clear(b.recs)
	b.recs, b.built, b.tried, b.refused = b.recs[:0], false, false, nil
	b.cols.reset()
}

// build decodes b's records into b.cols. Records that do not decode are dead-lettered first,
// then dropped from b: a record is dead-lettered before any later offset of its table is
// inserted, so the ledger also covers what went to the dead letters.
func (r *run) build(ctx context.Context, b *tableBuf) error {
	b.cols.reset()
	var (
		bad    []deadLetter
		badIdx []int
		rec    record.Record
	)
	for i, kr := range b.recs {
		if err := record.Decode(kr.Value, &rec); err != nil {
			bad = append(bad, deadLetter{rec: kr, reason: ReasonRecordCorrupt, err: err, table: b.t.String()})
			badIdx = append(badIdx, i)
			continue
		}
		b.cols.add(&rec, kr.Topic, kr.Partition, kr.Offset)
	}
	if len(bad) > 0 {
		if err := r.deadLetter(ctx, bad); err != nil {
			b.cols.reset()
			return err
		}
		good := b.recs[:0]
		for i, kr := range b.recs {
			if len(badIdx) > 0 && badIdx[0] == i {
				badIdx = badIdx[1:]
				continue
			}
			good = append(good, kr)
		}
		clear(b.recs[len(good):])
		b.recs = good
	}
	b.built = true
	return nil
}

// flushTable inserts b's records, dead-lettering those that ClickHouse refuses for a data
// reason (found by bisecting). It returns errRetry after a transient failure, with b holding
// what is left to do.
func (r *run) flushTable(ctx context.Context, b *tableBuf) error {
	for len(b.recs) > 0 {
		if b.refused != nil { // the concurrent attempt was refused for its data
			err := b.refused
			b.refused = nil
			if err := r.bisect(ctx, b, err); err != nil {
				return err
			}
			continue
		}
		if b.tried {
			// The last attempt failed, maybe after ClickHouse took the block: keep only what the
			// ledger does not show. A block is atomic, so it is all there or not at all.
			led, err := r.ledger.read(ctx)
			if err != nil {
				return r.retry(ctx, b.t, "cannot read the offsets ledger", err)
			}
			kept := b.recs[:0]
			for _, rec := range b.recs {
				if rec.Offset > offsetIn(led, ledgerKey{b.t, rec.Topic, rec.Partition}) {
					kept = append(kept, rec)
				} else {
					r.m.recordsSkipped.WithLabelValues(b.t.String()).Inc()
				}
			}
			if len(kept) < len(b.recs) {
				clear(b.recs[len(kept):])
				b.recs, b.built = kept, false
			}
			b.tried = false
			if len(b.recs) == 0 {
				break
			}
		}
		if !b.built {
			if err := r.build(ctx, b); err != nil {
				return err
			}
			if len(b.recs) == 0 {
				break
			}
		}
		start := time.Now()
		err := r.ins.insert(ctx, b.cols, 0, b.cols.n)
		if err == nil {
			r.inserted(b, time.Since(start))
			break
		}
		if !isDataError(err) {
			b.tried = true
			return r.retry(ctx, b.t, "cannot insert", err)
		}
		if err := r.bisect(ctx, b, err); err != nil {
			return err
		}
	}
	clear(b.recs)
	b.recs, b.built, b.tried, b.refused = b.recs[:0], false, false, nil
	b.cols.reset()
	return nil
}

// bisect handles an INSERT of b refused for a data reason: a single record goes to the dead
// letters; otherwise the first half is flushed on its own, then the second half stays in b for
// the caller to try. Progress is kept in b, so a transient error in between resumes where it
// stopped.
func (r *run) bisect(ctx context.Context, b *tableBuf, cause error) error {
	if len(b.recs) == 1 {
		if err := r.deadLetter(ctx, []deadLetter{{rec: b.recs[0], reason: ReasonInsertRejected, err: cause, table: b.t.String()}}); err != nil {
			return err
		}
		b.recs[0] = nil
		b.recs, b.built = b.recs[:0], false
		return nil
	}
	half := &tableBuf{t: b.t, recs: append([]*kgo.Record(nil), b.recs[:len(b.recs)/2]...), cols: newColumns(b.t)}
	rest := b.recs[len(b.recs)/2:]
	err := r.flushTable(ctx, half)
	// What is left of the first half goes back in front of the second.
	b.recs = append(half.recs, rest...)
	b.built, b.tried, b.refused = false, half.tried, half.refused
	return err
}

// retry logs a transient failure, counts it and returns errRetry (or ctx's error).
func (r *run) retry(ctx context.Context, t table, msg string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.attempt++
	r.m.insertRetries.WithLabelValues(t.String()).Inc()
	r.logAttempt(msg, err, "table", t.String())
	return errRetry
}

// logAttempt logs failed attempt r.attempt of a retried step: the first, then every tenth, so
// that an outage is a few lines, not one per backoff.
func (r *run) logAttempt(msg string, err error, args ...any) {
	if r.attempt == 1 || r.attempt%10 == 0 {
		r.log.Warn(msg+", retrying", append(args, "attempt", r.attempt, "err", err)...)
	}
}

// recovered logs the end of a run of failed attempts.
func (r *run) recovered() {
	if r.attempt > 0 {
		r.log.Info("recovered", "failed_attempts", r.attempt)
		r.attempt = 0
	}
}

// deadLetter writes dls to the dead-letter topic and counts them; errRetry when Kafka does
// not acknowledge them all.
func (r *run) deadLetter(ctx context.Context, dls []deadLetter) error {
	if err := r.dlq.write(ctx, dls); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.attempt++
		r.logAttempt("cannot write to the dead-letter topic", err, "topic", r.cfg.DeadLetterTopic, "records", len(dls))
		return errRetry
	}
	for _, dl := range dls {
		r.m.deadLetters.WithLabelValues(dl.reason).Inc()
	}
	// One line per write, not per record: a poison burst is one line.
	r.log.Warn("dead-lettered records", "records", len(dls), "reason", dls[0].reason, "topic", dls[0].rec.Topic,
		"partition", dls[0].rec.Partition, "offset", dls[0].rec.Offset, "err", dls[0].err)
	return nil
}

// commit commits, for every partition, the offset after the last processed record. Failures
// are counted and logged: the next flush commits again, and the ledger keeps restarts exact.
func (r *run) commit(ctx context.Context) {
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	for tp, ps := range r.parts {
		if ps.next > ps.committed {
			if offsets[tp.topic] == nil {
				offsets[tp.topic] = make(map[int32]kgo.EpochOffset)
			}
			offsets[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: ps.epoch, Offset: ps.next}
		}
	}
	if len(offsets) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var cerr error
	r.cl.CommitOffsetsSync(cctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					cerr = fmt.Errorf("partition %s/%d: %w", t.Topic, p.Partition, err)
					return
				}
			}
		}
	})
	if cerr != nil {
		r.m.commitErrors.Inc()
		r.log.Warn("cannot commit offsets", "err", cerr)
		return
	}
	for tp, ps := range r.parts {
		if o, ok := offsets[tp.topic][tp.partition]; ok {
			ps.committed = o.Offset
		}
	}
}

// kafkaDeadLetters writes dead letters to a topic with the client's producer (acks=all,
// idempotent).
type kafkaDeadLetters struct {
	cl    *kgo.Client
	topic string
}

func (k *kafkaDeadLetters) write(ctx context.Context, dls []deadLetter) error {
	recs := make([]*kgo.Record, len(dls))
	for i, dl := range dls {
		recs[i] = &kgo.Record{
			Topic: k.topic,
			Key:   dl.rec.Key,
			Value: dl.rec.Value,
			Headers: []kgo.RecordHeader{
				{Key: HeaderReason, Value: []byte(dl.reason)},
				{Key: HeaderError, Value: []byte(errString(dl.err))},
				{Key: HeaderSourceTopic, Value: []byte(dl.rec.Topic)},
				{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(dl.rec.Partition), 10)},
				{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, dl.rec.Offset, 10)},
				{Key: HeaderTable, Value: []byte(dl.table)},
			},
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return k.cl.ProduceSync(pctx, recs...).FirstErr()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// kgoLogger forwards the Kafka client's warnings and errors to slog.
type kgoLogger struct{ log *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		k.log.Error("kafka: "+msg, keyvals...)
	case kgo.LogLevelWarn:
		k.log.Warn("kafka: "+msg, keyvals...)
	}
}
