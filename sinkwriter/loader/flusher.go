package loader

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/migration/report"
	"github.com/ingestdev/ingest/record"
)

// recordOverhead is added to a record's key and value length when counting buffered bytes:
// what a buffered record costs beyond them, its kgo.Record (which franz-go allocates in one
// slab per batch) and the pointer to it in the buffer.
const recordOverhead = int(unsafe.Sizeof(kgo.Record{})) + int(unsafe.Sizeof((*kgo.Record)(nil)))

// flushPolicy says when the buffers are flushed: when one table holds rows records, when all
// of them hold bytes of records, or an interval after the first record was processed. The
// interval adapts between minInterval and interval (see adapt); minInterval 0, or not below
// interval, keeps it fixed at interval.
type flushPolicy struct {
	rows        int
	bytes       int
	interval    time.Duration
	minInterval time.Duration
}

// The adaptive flush interval (flusher.adapt) keeps the oldest row of each flush visible
// within adaptHigh of VisibilityObjective and grows the interval while it is below adaptLow:
// the longer the interval, the fewer and larger the INSERTs, and ClickHouse's cost is mostly
// per INSERT and per part merged (BENCHMARKS.md, "Whole pipeline"). It cuts fast and grows
// slowly, so one slow flush costs latency once.
const (
	adaptHigh   = 0.8
	adaptLow    = 0.6
	adaptCut    = 0.75
	adaptGrowth = 1.125
)

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

// reset empties b, keeping its buffers.
func (b *tableBuf) reset() {
	clear(b.recs)
	b.recs, b.built, b.tried, b.refused = b.recs[:0], false, false, nil
	b.cols.reset()
}

// flusher buffers the records of the three tables and flushes them: dead letters first, then
// one INSERT per table (the three concurrently), bisecting an INSERT that ClickHouse refuses
// for its data down to the rows at fault, which it dead-letters. A flush is resumable: after a
// transient failure (errRetry) it keeps what is left to do, and the next call goes on from
// there; a table whose INSERT may have landed is reconciled with the ledger first. The
// flusher never commits: its caller commits after flush returned nil.
//
// Concurrency: not safe for concurrent use; the consumer loop's goroutine owns it. Only
// sendConcurrently starts goroutines, one INSERT per table, each touching its own tableBuf's
// columns, and waits for them before it returns.
type flusher struct {
	policy  flushPolicy
	ins     inserter
	ledger  *ledger // reconcile only
	dlq     deadLetterWriter
	dlTopic string // for the log
	m       *metrics
	log     *slog.Logger
	retries *retries // shared with the consumer loop

	bufs    [numTables]*tableBuf
	corrupt []deadLetter // records routed to no table, dead-lettered first at the next flush
	bytes   int          // buffered record bytes
	rows    int          // buffered records
	firstAt time.Time    // when the first record since the last flush was processed; zero when none
	// interval is the current flush interval (adapt); worst is the oldest row's visibility in
	// the pending flush, took its slowest INSERT.
	interval    time.Duration
	worst, took time.Duration
	pending     bool   // a flush has started and not finished
	trigger     string // what started the pending flush
	lastErr     error  // of the last failed concurrent attempt, for the log

	rep *report.Reporter // the rows of each acknowledged INSERT, per tenant; nil: none
	now func() time.Time // the clock of the visibility histogram
}

func newFlusher(p flushPolicy, ins inserter, led *ledger, dlq deadLetterWriter, dlTopic string, m *metrics, log *slog.Logger, rt *retries) *flusher {
	f := &flusher{policy: p, ins: ins, ledger: led, dlq: dlq, dlTopic: dlTopic, m: m, log: log, retries: rt, now: time.Now}
	for t := range numTables {
		f.bufs[t] = &tableBuf{t: t, cols: newColumns(t)}
	}
	f.interval = p.interval
	if p.minInterval > 0 && p.minInterval < p.interval {
		f.interval = p.minInterval // start where latency is safe; adapt grows it
	}
	f.m.flushInterval.Set(f.interval.Seconds())
	return f
}

// adapt sets the next flush interval from the flush that just ended, which the interval
// triggered: shorter when its oldest row was visible later than adaptHigh × the objective,
// longer when earlier than adaptLow × it. When the rows waited in Kafka for more than half the
// objective (worst − interval − INSERT time), the loader is behind: a shorter interval would
// only make smaller INSERTs, so it holds.
func (f *flusher) adapt() {
	p := f.policy
	defer func() { f.m.flushInterval.Set(f.interval.Seconds()) }()
	if p.minInterval <= 0 || p.minInterval >= p.interval {
		return
	}
	objective := VisibilityObjective
	switch {
	case f.worst-f.interval-f.took > objective/2:
	case f.worst > time.Duration(adaptHigh*float64(objective)):
		f.interval = max(p.minInterval, time.Duration(adaptCut*float64(f.interval)))
	case f.worst < time.Duration(adaptLow*float64(objective)):
		f.interval = min(p.interval, time.Duration(adaptGrowth*float64(f.interval)))
	}
}

// processed starts the FlushInterval clock at now unless it runs: a flush (or at least a
// commit, for records the ledger skipped) is due within FlushInterval of the first record
// processed since the last flush.
func (f *flusher) processed(now time.Time) {
	if f.firstAt.IsZero() {
		f.firstAt = now
	}
}

// add buffers rec for table t.
func (f *flusher) add(t table, rec *kgo.Record) {
	b := f.bufs[t]
	b.recs = append(b.recs, rec)
	b.built = false
	f.rows++
	f.count(rec)
}

// addCorrupt buffers rec, which names no table, for the dead letters.
func (f *flusher) addCorrupt(rec *kgo.Record, err error) {
	f.corrupt = append(f.corrupt, deadLetter{rec: rec, reason: ReasonRecordCorrupt, err: err})
	f.count(rec)
}

func (f *flusher) count(rec *kgo.Record) {
	f.bytes += len(rec.Key) + len(rec.Value) + recordOverhead
	f.m.bufferedBytes.Set(float64(f.bytes))
}

// full returns the trigger of a flush the buffers need now (rows or bytes), or "".
func (f *flusher) full() string {
	for _, b := range f.bufs {
		if len(b.recs) >= f.policy.rows {
			return triggerRows
		}
	}
	if f.bytes >= f.policy.bytes {
		return triggerBytes
	}
	return ""
}

// due reports whether FlushInterval has passed at now since the first record was processed.
func (f *flusher) due(now time.Time) bool {
	return !f.firstAt.IsZero() && now.Sub(f.firstAt) >= f.interval
}

// wait returns how long after now the next interval flush is due: FlushInterval when nothing
// was processed, zero or less when it is due.
func (f *flusher) wait(now time.Time) time.Duration {
	if f.firstAt.IsZero() {
		return f.interval
	}
	return f.firstAt.Add(f.interval).Sub(now)
}

// holding reports whether a flush is pending or records were processed since the last one.
func (f *flusher) holding() bool { return f.pending || !f.firstAt.IsZero() }

// drop empties every buffer, abandoning a pending flush, and returns the number of records
// dropped: at a rebalance, the partitions' next owner reads them again.
func (f *flusher) drop() int {
	dropped := f.rows + len(f.corrupt)
	for _, b := range f.bufs {
		b.reset()
	}
	f.corrupt = nil
	f.bytes, f.rows, f.firstAt = 0, 0, time.Time{}
	f.pending = false
	f.m.bufferedBytes.Set(0)
	return dropped
}

// flush writes the dead letters and every table's buffer. It is resumable: on errRetry what
// succeeded is not repeated (a table whose INSERT may or may not have landed is reconciled
// with the ledger first), and the caller calls it again after a backoff. trigger labels a new
// flush; a pending flush keeps its own. It returns nil, errRetry or ctx's error.
func (f *flusher) flush(ctx context.Context, trigger string) error {
	if !f.pending {
		f.pending, f.trigger = true, trigger
		f.worst, f.took = 0, 0
		f.m.flushes.WithLabelValues(trigger).Inc()
	}
	if len(f.corrupt) > 0 {
		if err := f.deadLetter(ctx, f.corrupt); err != nil {
			return err
		}
		f.corrupt = nil
	}
	// Build every table's block first (dead-lettering what does not decode), then send the
	// blocks concurrently: ClickHouse works on one while the loader encodes the next. Whatever
	// did not succeed at once (a transient error, a block refused for its data) is handled table
	// by table below.
	for _, b := range f.bufs {
		if len(b.recs) > 0 && !b.built && !b.tried && b.refused == nil {
			if err := f.build(ctx, b); err != nil {
				return err
			}
		}
	}
	if f.sendConcurrently(ctx) {
		return f.retries.fail("cannot insert", f.lastErr)
	}
	for _, b := range f.bufs {
		if err := f.flushTable(ctx, b); err != nil {
			return err
		}
	}
	f.retries.recovered()
	f.pending = false
	f.bytes, f.rows, f.firstAt = 0, 0, time.Time{}
	f.m.bufferedBytes.Set(0)
	if f.trigger == triggerInterval {
		f.adapt()
	}
	return nil
}

// sendConcurrently makes the first INSERT attempt of every built table at once. A success
// empties the table's buffer; a data error is kept in refused for flushTable to bisect; a
// transient error marks the table tried. It reports whether a transient error happened.
func (f *flusher) sendConcurrently(ctx context.Context) (transient bool) {
	var (
		wg   sync.WaitGroup
		errs [numTables]error
		took [numTables]time.Duration
		sent [numTables]bool
	)
	for i, b := range f.bufs {
		if len(b.recs) == 0 || !b.built || b.tried || b.refused != nil {
			continue
		}
		sent[i] = true
		wg.Go(func() {
			start := time.Now()
			errs[i] = f.ins.insert(ctx, b.cols, 0, b.cols.n)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, b := range f.bufs {
		switch {
		case !sent[i]:
		case errs[i] == nil:
			f.inserted(b, took[i])
		case isDataError(errs[i]):
			b.refused = errs[i]
		default:
			b.tried = true
			f.m.insertRetries.WithLabelValues(b.t.String()).Inc()
			f.lastErr = fmt.Errorf("table %s: %w", b.t, errs[i])
			transient = true
		}
	}
	return transient
}

// inserted counts b's successful INSERT and empties b.
func (f *flusher) inserted(b *tableBuf, took time.Duration) {
	f.m.insertDuration.WithLabelValues(b.t.String()).Observe(took.Seconds())
	f.took = max(f.took, took)
	f.m.rowsInserted.WithLabelValues(b.t.String()).Add(float64(b.cols.n))
	f.observeVisibility(b)
	f.reportLanded(b)
	b.reset()
}

// observeVisibility records, for each row of b's acknowledged INSERT, the time from its
// received_at to now (a row received "in the future", by a normalizer whose clock runs ahead,
// counts as 0), by table and by tenant: counted here, added to the exported series once per
// tenant run and once per table.
func (f *flusher) observeVisibility(b *tableBuf) {
	ack := f.now().UnixNano()
	col := &b.cols.tenant
	var all, run rowCounts
	var tenant []byte
	var series *rowHistogram
	var worst int64
	for i, at := range b.cols.receivedNano[:b.cols.n] {
		ns := max(ack-at, 0)
		worst = max(worst, ns)
		bucket := visibilityBucket(ns)
		all.observe(bucket, ns)
		p := col.pos[i]
		if v := col.buf[p.Start:p.End]; series == nil || !bytes.Equal(v, tenant) { // rows come in runs of a tenant
			if series != nil {
				series.add(&run)
				run = rowCounts{}
			}
			tenant, series = v, f.m.vis.tenant(v)
		}
		run.observe(bucket, ns)
	}
	if series != nil {
		series.add(&run)
	}
	f.m.vis.tables[b.t].add(&all)
	f.worst = max(f.worst, time.Duration(worst))
}

// reportLanded adds the rows of b's acknowledged INSERT to the parity reports, per tenant:
// LandedShadowEvents for a shadow table, else LandedLiveEvents. Rows of one tenant come in
// runs (one topic per tenant and table set), so one string is made per run, not per row.
func (f *flusher) reportLanded(b *tableBuf) {
	if !f.rep.Enabled() {
		return
	}
	col := &b.cols.tenant
	add := func(tenant string, n uint64) {
		if b.t.shadow() {
			f.rep.Add(tenant, report.Delta{LandedShadowEvents: n})
		} else {
			f.rep.Add(tenant, report.Delta{LandedLiveEvents: n})
		}
	}
	var run []byte
	var n uint64
	for i := range b.cols.n {
		p := col.pos[i]
		v := col.buf[p.Start:p.End]
		if n > 0 && bytes.Equal(v, run) {
			n++
			continue
		}
		if n > 0 {
			add(string(run), n)
		}
		run, n = v, 1
	}
	if n > 0 {
		add(string(run), n)
	}
}

// build decodes b's records into b.cols. Records that do not decode are dead-lettered first,
// then dropped from b: a record is dead-lettered before any later offset of its table is
// inserted, so the ledger also covers what went to the dead letters.
func (f *flusher) build(ctx context.Context, b *tableBuf) error {
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
		if err := f.deadLetter(ctx, bad); err != nil {
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
func (f *flusher) flushTable(ctx context.Context, b *tableBuf) error {
	for len(b.recs) > 0 {
		if b.refused != nil { // the concurrent attempt was refused for its data
			err := b.refused
			b.refused = nil
			if err := f.bisect(ctx, b, err); err != nil {
				return err
			}
			continue
		}
		if b.tried {
			// The last attempt failed, maybe after ClickHouse took the block: keep only what the
			// ledger does not show. A block is atomic, so it is all there or not at all.
			n := len(b.recs)
			kept, err := f.ledger.reconcile(ctx, b.t, b.recs)
			if err != nil {
				return f.retry(ctx, b.t, "cannot read the offsets ledger", err)
			}
			if len(kept) < n {
				b.recs, b.built = kept, false
			}
			b.tried = false
			if len(b.recs) == 0 {
				break
			}
		}
		if !b.built {
			if err := f.build(ctx, b); err != nil {
				return err
			}
			if len(b.recs) == 0 {
				break
			}
		}
		start := time.Now()
		err := f.ins.insert(ctx, b.cols, 0, b.cols.n)
		if err == nil {
			f.inserted(b, time.Since(start))
			break
		}
		if !isDataError(err) {
			b.tried = true
			return f.retry(ctx, b.t, "cannot insert", err)
		}
		if err := f.bisect(ctx, b, err); err != nil {
			return err
		}
	}
	b.reset()
	return nil
}

// bisect handles an INSERT of b refused for a data reason: a single record goes to the dead
// letters; otherwise the first half is flushed on its own, then the second half stays in b for
// the caller to try. Progress is kept in b, so a transient error in between resumes where it
// stopped.
func (f *flusher) bisect(ctx context.Context, b *tableBuf, cause error) error {
	if len(b.recs) == 1 {
		if err := f.deadLetter(ctx, []deadLetter{{rec: b.recs[0], reason: ReasonInsertRejected, err: cause, table: b.t.String()}}); err != nil {
			return err
		}
		b.recs[0] = nil
		b.recs, b.built = b.recs[:0], false
		return nil
	}
	half := &tableBuf{t: b.t, recs: append([]*kgo.Record(nil), b.recs[:len(b.recs)/2]...), cols: newColumns(b.t)}
	rest := b.recs[len(b.recs)/2:]
	err := f.flushTable(ctx, half)
	// What is left of the first half goes back in front of the second.
	b.recs = append(half.recs, rest...)
	b.built, b.tried, b.refused = false, half.tried, half.refused
	return err
}

// retry counts a transient failure of table t's INSERT or ledger read and returns errRetry
// (or ctx's error).
func (f *flusher) retry(ctx context.Context, t table, msg string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	f.m.insertRetries.WithLabelValues(t.String()).Inc()
	return f.retries.fail(msg, err, "table", t.String())
}

// deadLetter writes dls to the dead-letter topic and counts them; errRetry when Kafka does
// not acknowledge them all.
func (f *flusher) deadLetter(ctx context.Context, dls []deadLetter) error {
	if err := f.dlq.write(ctx, dls); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return f.retries.fail("cannot write to the dead-letter topic", err, "topic", f.dlTopic, "records", len(dls))
	}
	for _, dl := range dls {
		f.m.deadLetters.WithLabelValues(dl.reason).Inc()
	}
	// One line per write, not per record: a poison burst is one line.
	f.log.Warn("dead-lettered records", "records", len(dls), "reason", dls[0].reason, "topic", dls[0].rec.Topic,
		"partition", dls[0].rec.Partition, "offset", dls[0].rec.Offset, "err", dls[0].err)
	return nil
}
