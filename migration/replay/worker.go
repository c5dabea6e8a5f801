package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/backoff"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// insertAttempts bounds the attempts of one INSERT (or ledger read) before a run fails; a
// failed run resumes from its checkpoint with `start`.
const insertAttempts = 8

// throttleEvery is how many records a run reads between two checks of its rate.
const throttleEvery = 256

// run is a job's worker as seen from the Manager.
type run struct {
	cancel    context.CancelFunc
	cancelled atomic.Bool // by Cancel, not by shutdown
	done      chan struct{}

	mu       sync.Mutex
	progress Progress
}

func (r *run) snapshot() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.progress
	p.Partitions = append([]PartitionProgress(nil), p.Partitions...)
	return p
}

func (r *run) publish(p Progress) {
	p.Partitions = append([]PartitionProgress(nil), p.Partitions...)
	r.mu.Lock()
	r.progress = p
	r.mu.Unlock()
}

// work runs job j until it is loaded, cancelled, failed, or ctx ends (shutdown: it stays
// running, to resume at the next Run), and persists the outcome.
func (m *Manager) work(ctx context.Context, j Job, r *run) {
	w := &worker{m: m, job: j, run: r}
	err := w.replay(ctx)
	j = w.job
	now := m.now().UTC()
	j.UpdatedAt = now
	switch {
	case err == nil:
		j.State = StateLoaded
		j.Progress.FinishedAt = &now
		j.Progress.RatePerSecond, j.Progress.ETASeconds = 0, 0
		m.log.Info("replay loaded", "id", j.ID, "tenant", j.Plan.Tenant, "records", j.Progress.RecordsDone, "corrupt", j.Progress.Corrupt, "refused", j.Progress.Refused)
	case r.cancelled.Load():
		j.State = StateCancelled
		m.log.Info("replay cancelled", "id", j.ID, "records_done", j.Progress.RecordsDone)
	case ctx.Err() != nil:
		m.log.Info("replay stopped by shutdown; it resumes at the next start", "id", j.ID, "records_done", j.Progress.RecordsDone)
	default:
		j.State, j.Error = StateFailed, err.Error()
		m.log.Error("replay failed; `ingestctl replay start` resumes it from its checkpoint", "id", j.ID, "err", err)
	}
	m.m.jobs.WithLabelValues(string(j.State)).Inc()
	if err := m.o.Store.Put(context.WithoutCancel(ctx), j); err != nil {
		m.log.Error("cannot persist the replay's state", "id", j.ID, "err", err)
	}
}

// worker is one run of a job.
type worker struct {
	m   *Manager
	job Job
	run *run

	ledger  []map[int32]int64 // per signal index: the highest offset each replay table holds
	rows    []*loader.Rows    // per signal index
	pending map[int32]int64   // per partition: the next offset once the buffered rows are in
	done    map[int32]bool    // partitions read to their last planned offset
	count   int64             // records buffered since the last checkpoint
	corrupt int64             // of them, corrupt
	first   time.Time         // when the first buffered record was read

	started time.Time // of this run
	startN  int64     // RecordsDone when this run started
	samples []sample  // for the rate
}

type sample struct {
	at time.Time
	n  int64
}

// replay reads every planned record not yet checkpointed and inserts each that the replay
// tables do not hold, exactly once, throttled to the plan's rate.
func (w *worker) replay(ctx context.Context) error {
	m, j := w.m, &w.job
	var err error
	if err = w.retry(ctx, "create the replay tables", func(ctx context.Context) error { return m.tables.create(ctx, j.ID) }); err != nil {
		return err
	}
	if err = w.retry(ctx, "read the replay tables' ledger", func(ctx context.Context) error {
		// On a cluster, the replica must hold the ledger entries of every INSERT a run made
		// before (perhaps on another replica); else it would insert those records again.
		if err := m.tables.ready(ctx, jobTables(j.ID)[len(signals):]...); err != nil {
			return err
		}
		w.ledger, err = m.tables.ledger(ctx, j.ID, j.Plan.Topic)
		return err
	}); err != nil {
		return err
	}
	w.rows = make([]*loader.Rows, len(signals))
	for i, s := range signals {
		w.rows[i], _ = loader.NewRows(s)
	}
	w.pending, w.done = map[int32]int64{}, map[int32]bool{}
	want := map[int32]kgo.Offset{}
	for _, pp := range j.Progress.Partitions {
		pr := j.Plan.partition(pp.Partition)
		w.pending[pp.Partition] = pp.Next
		if pp.Done || pr == nil || pp.Next > pr.LastOffset {
			w.done[pp.Partition] = true
			continue
		}
		want[pp.Partition] = kgo.NewOffset().At(pp.Next)
	}
	w.started, w.startN = m.now(), j.Progress.RecordsDone
	if len(want) == 0 {
		return w.checkpoint(ctx)
	}
	cl, err := m.consumer(map[string]map[int32]kgo.Offset{j.Plan.Topic: want})
	if err != nil {
		return err
	}
	defer cl.Close()
	var rec record.Record
	for len(w.done) < len(j.Progress.Partitions) {
		pollCtx, cancel := context.WithTimeout(ctx, m.cfg.FlushInterval)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		var fetchErr error
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				fetchErr = fmt.Errorf("cannot read partition %d of %s: %w", p, j.Plan.Topic, err)
			}
		})
		if fetchErr != nil {
			return &Error{Code: CodeKafka, Msg: "the replay stopped", Err: fetchErr}
		}
		for it := fs.RecordIter(); !it.Done(); {
			kr := it.Next()
			w.take(kr, &rec)
			if pr := j.Plan.partition(kr.Partition); pr != nil && kr.Offset >= pr.LastOffset && !w.done[kr.Partition] {
				w.done[kr.Partition] = true
				cl.PauseFetchPartitions(map[string][]int32{j.Plan.Topic: {kr.Partition}})
			}
			if w.full() {
				if err := w.flush(ctx); err != nil {
					return err
				}
			}
			if w.count%throttleEvery == 0 {
				if err := w.throttle(ctx); err != nil {
					return err
				}
				if w.count > 0 && m.now().Sub(w.first) >= m.cfg.FlushInterval {
					if err := w.flush(ctx); err != nil {
						return err
					}
				}
				w.publish()
			}
		}
		if w.count > 0 && (m.now().Sub(w.first) >= m.cfg.FlushInterval || len(w.done) == len(j.Progress.Partitions)) {
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
		if err := w.throttle(ctx); err != nil {
			return err
		}
		w.publish()
	}
	if w.count > 0 {
		return w.flush(ctx)
	}
	return w.checkpoint(ctx)
}

// take buffers a fetched record if it is planned and not yet in its table.
func (w *worker) take(kr *kgo.Record, rec *record.Record) {
	j := &w.job
	pr := j.Plan.partition(kr.Partition)
	if pr == nil || kr.Offset < w.pending[kr.Partition] || kr.Offset > pr.LastOffset || w.done[kr.Partition] {
		return
	}
	if w.count == 0 {
		w.first = w.m.now()
	}
	w.pending[kr.Partition] = kr.Offset + 1
	w.count++
	if err := record.Decode(kr.Value, rec); err != nil {
		w.corrupt++
		w.m.m.records.WithLabelValues("corrupt").Inc()
		return
	}
	i := signalIndex(rec.Signal)
	if led, ok := w.ledger[i][kr.Partition]; ok && kr.Offset <= led {
		w.m.m.records.WithLabelValues("skipped").Inc()
		return // the table holds it already (a run before a crash inserted it)
	}
	w.rows[i].Add(rec, kr.Topic, kr.Partition, kr.Offset)
}

func (w *worker) full() bool {
	for _, r := range w.rows {
		if r.Len() >= w.m.cfg.FlushRows {
			return true
		}
	}
	return false
}

// flush inserts the buffered rows, one INSERT per replay table, then saves the checkpoint.
func (w *worker) flush(ctx context.Context) error {
	j := &w.job
	for i, s := range signals {
		rows := w.rows[i]
		if rows.Len() == 0 {
			continue
		}
		table := replayTable(s, j.ID)
		start := w.m.now()
		refused, err := w.insert(ctx, rows, table, 0, rows.Len())
		if err != nil {
			return err
		}
		w.m.m.insertSeconds.Observe(w.m.now().Sub(start).Seconds())
		w.m.m.records.WithLabelValues("inserted").Add(float64(rows.Len() - int(refused)))
		j.Progress.Refused += refused
	}
	if w.m.hookFlushed != nil {
		if err := w.m.hookFlushed(j); err != nil {
			return err
		}
	}
	return w.checkpoint(ctx)
}

// insert inserts rows [lo, hi) into table, retrying transient failures and bisecting an
// INSERT refused for its data down to the rows at fault, which it counts and skips (the live
// loader dead-letters the same rows). After a failed attempt it reads the ledger first: the
// INSERT may have landed.
func (w *worker) insert(ctx context.Context, rows *loader.Rows, table string, lo, hi int) (refused int64, err error) {
	m := w.m
	for attempt := 0; ; attempt++ {
		err = rows.Insert(ctx, m.o.Conn, m.cfg.InsertTimeout, m.db, table, lo, hi)
		if err == nil {
			return 0, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if loader.IsDataError(err) {
			if hi-lo == 1 {
				m.log.Warn("replay skips a row ClickHouse refuses", "id", w.job.ID, "table", table, "err", err)
				return 1, nil
			}
			mid := lo + (hi-lo)/2
			a, err := w.insert(ctx, rows, table, lo, mid)
			if err != nil {
				return 0, err
			}
			b, err := w.insert(ctx, rows, table, mid, hi)
			return a + b, err
		}
		if attempt+1 >= insertAttempts {
			return 0, &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot insert into %s.%s after %d attempts", m.db, table, insertAttempts), Err: err}
		}
		m.log.Warn("replay INSERT failed; retrying", "id", w.job.ID, "table", table, "attempt", attempt+1, "err", err)
		if werr := (backoff.Policy{Min: 200 * time.Millisecond, Max: 10 * time.Second}).Wait(ctx, attempt); werr != nil {
			return 0, werr
		}
	}
}

// checkpoint saves how far the run got: every buffered record is in its table (or skipped).
func (w *worker) checkpoint(ctx context.Context) error {
	j := &w.job
	for i := range j.Progress.Partitions {
		pp := &j.Progress.Partitions[i]
		pp.Next = w.pending[pp.Partition]
		pp.Done = w.done[pp.Partition]
	}
	j.Progress.RecordsDone += w.count
	j.Progress.Corrupt += w.corrupt
	w.count, w.corrupt = 0, 0
	for _, r := range w.rows {
		r.Reset()
	}
	w.progress(&j.Progress)
	j.UpdatedAt = w.m.now().UTC()
	if err := w.m.o.Store.Put(context.WithoutCancel(ctx), *j); err != nil {
		return fmt.Errorf("cannot save the replay's checkpoint: %w", err)
	}
	w.run.publish(j.Progress)
	return nil
}

// progress computes p's percentage, and its rate over the last 10 s and ETA from the
// records processed so far (in the tables or buffered).
func (w *worker) progress(p *Progress) {
	if p.RecordsTotal > 0 {
		p.Percent = 100 * float64(p.RecordsDone) / float64(p.RecordsTotal)
	}
	now := w.m.now()
	if n := len(w.samples); n == 0 || now.Sub(w.samples[n-1].at) >= 250*time.Millisecond {
		w.samples = append(w.samples, sample{now, p.RecordsDone})
	}
	for len(w.samples) > 2 && now.Sub(w.samples[0].at) > 10*time.Second {
		w.samples = w.samples[1:]
	}
	if s := w.samples[0]; now.Sub(s.at) > 0 && p.RecordsDone > s.n {
		p.RatePerSecond = float64(p.RecordsDone-s.n) / now.Sub(s.at).Seconds()
		p.ETASeconds = float64(p.RecordsTotal-p.RecordsDone) / p.RatePerSecond
	}
}

// publish shows the records read since the checkpoint in the progress too.
func (w *worker) publish() {
	p := w.job.Progress
	p.RecordsDone += w.count
	w.progress(&p)
	w.run.publish(p)
}

// throttle sleeps while this run is ahead of the plan's rate.
func (w *worker) throttle(ctx context.Context) error {
	n := w.job.Progress.RecordsDone + w.count - w.startN
	ahead := time.Duration(float64(n)/float64(w.job.Plan.Rate)*float64(time.Second)) - w.m.now().Sub(w.started)
	if ahead <= 0 {
		return nil
	}
	return backoff.Sleep(ctx, ahead)
}

// retry runs f until it succeeds, ctx ends or insertAttempts attempts failed.
func (w *worker) retry(ctx context.Context, what string, f func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		err := f(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if attempt+1 >= insertAttempts {
			return fmt.Errorf("cannot %s after %d attempts: %w", what, insertAttempts, err)
		}
		w.m.log.Warn("replay: retrying", "id", w.job.ID, "what", what, "attempt", attempt+1, "err", err)
		if werr := (backoff.Policy{Min: 200 * time.Millisecond, Max: 10 * time.Second}).Wait(ctx, attempt); werr != nil {
			return werr
		}
	}
}

// partition returns the planned range of partition pn, or nil.
func (p *Plan) partition(pn int32) *PartitionRange {
	for i := range p.Partitions {
		if p.Partitions[i].Partition == pn {
			return &p.Partitions[i]
		}
	}
	return nil
}
