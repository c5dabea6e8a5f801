package rollup

import (
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

	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// SchemaVersion is the schema migration that created the markers, the state table and the
// roll-up tables this worker writes: it waits until the database records it.
const SchemaVersion = 2

// StateTable is the table of the persisted cursors, one row per table set (newest version
// wins).
const StateTable = "rollup_state"

// maxRangeSeconds bounds one recompute query: at most a day of windows of one tenant.
const maxRangeSeconds = 86400

// pruneEvery is how often the worker looks for marker partitions to drop.
const pruneEvery = time.Hour

// Worker keeps the roll-up tables of both table sets equal to a fresh aggregation of the
// deduplicated data (see the package documentation). Create it with New, run it with Run (or
// drive it with Cycle); its methods are safe for concurrent use, and cycles never overlap.
type Worker struct {
	conn driver.Conn
	cfg  Config
	m    *metrics
	log  *slog.Logger

	mu          sync.Mutex // held for a whole cycle
	t           *tracker
	schemaReady bool
	waitLogged  bool
	lastVersion uint64
	persisted   map[string]int64 // the cursor last written per set
	lastPrune   time.Time
	failing     bool // Run's goroutine only: the last cycle failed (logged once; the next success too)
	behind      bool // on a cluster: the last check found the replica behind (logged once; catching up too); see Behind
}

// New returns a worker for cfg (zero fields take their defaults) on conn, after validating
// cfg. conn may have any default database: every query names cfg.Database. Its metrics are
// registered with reg (nil: not registered).
func New(conn driver.Conn, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot configure the roll-up worker: %w", err)
	}
	cfg = cfg.WithDefaults()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("cannot register the roll-up worker's metrics: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{conn: conn, cfg: cfg, m: m, log: log, t: newTracker(cfg.Horizon, cfg.Delay), persisted: map[string]int64{}}, nil
}

// Run runs a cycle every Interval until ctx ends, then returns nil. A failed cycle is logged
// and retried at the next interval: ClickHouse down means the worker waits.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("roll-up worker started", "database", w.cfg.Database, "interval", w.cfg.Interval, "delay", w.cfg.Delay, "cluster", w.cfg.Cluster)
	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	for {
		err := w.Cycle(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errSchemaNotReady):
		case err != nil && !w.failing:
			w.log.Warn("roll-up cycle failed, retrying every interval", "err", err, "interval", w.cfg.Interval)
			w.failing = true
		case err != nil:
			w.log.Debug("roll-up cycle failed again", "err", err)
		case w.failing:
			w.log.Info("roll-up cycle succeeded again")
			w.failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// errSchemaNotReady is returned by Cycle while the database does not record SchemaVersion.
var errSchemaNotReady = errors.New("the schema is not migrated to the roll-up tables yet")

// Cycle runs one cycle: it reads the markers that became visible since the last read, and
// recomputes every dirty 1m window whose minute is closed (minute end + Delay before the
// server's clock), then the 10m and 60m windows around them, then persists the cursors and,
// once an hour, drops the marker partitions past the retention. A window whose recompute fails
// stays dirty for the next cycle. It returns every error joined (nil when all went well); an
// error wrapping errSchemaNotReady while migration SchemaVersion is not recorded.
func (w *Worker) Cycle(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.waitSchema(ctx); err != nil {
		return err
	}
	now, err := w.serverNow(ctx)
	if err != nil {
		w.m.errors.WithLabelValues(opRead).Inc()
		return err
	}
	if err := w.loadCursors(ctx); err != nil {
		w.m.errors.WithLabelValues(opRead).Inc()
		return err
	}
	// On a cluster, markers are read only once the replica holds every part committed before
	// now (so the next read may start Horizon before now: see tracker.add); recompute checks
	// again before each of its statements (see there).
	if caughtUp, err := w.caughtUp(ctx); err != nil || !caughtUp {
		if err != nil {
			w.m.errors.WithLabelValues(opRead).Inc()
		}
		w.report(now)
		return err
	}
	for _, set := range schema.TableSets {
		ms, err := w.readMarkers(ctx, set)
		if err != nil {
			w.m.errors.WithLabelValues(opRead).Inc()
			return err
		}
		w.m.markers.Add(float64(w.t.add(set, ms, now.Unix())))
	}
	var errs []error
levels:
	for l := range numLevels {
		for _, r := range w.t.ready(l, now, maxRangeSeconds/levelDefs[l].size) {
			if err := w.recompute(ctx, r); err != nil {
				if errors.Is(err, errReplicaBehind) {
					break levels // counted in waits; the windows stay dirty
				}
				w.m.errors.WithLabelValues(opRecompute).Inc()
				errs = append(errs, err)
				continue
			}
			w.t.done(r)
		}
	}
	if err := w.persistCursors(ctx); err != nil {
		w.m.errors.WithLabelValues(opCursor).Inc()
		errs = append(errs, err)
	}
	if now.Sub(w.lastPrune) >= pruneEvery {
		if err := w.prune(ctx, now); err != nil {
			w.m.errors.WithLabelValues(opPrune).Inc()
			errs = append(errs, err)
		} else {
			w.lastPrune = now
		}
	}
	w.report(now)
	w.m.cycles.Inc()
	return errors.Join(errs...)
}

// errReplicaBehind fails a recompute whose replica does not hold every committed part yet.
var errReplicaBehind = errors.New("the replica does not hold every part the other replicas committed yet")

// requireCaughtUp returns nil when caughtUp, else an error about what, wrapping
// errReplicaBehind when the replica is behind.
func (w *Worker) requireCaughtUp(ctx context.Context, what string) error {
	ok, err := w.caughtUp(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("cannot recompute %s: %w", what, err)
	case !ok:
		return fmt.Errorf("cannot recompute %s yet: %w", what, errReplicaBehind)
	}
	return nil
}

// report sets the gauges of the pending windows as of now.
func (w *Worker) report(now time.Time) {
	n, due, oldest := w.t.pending(now)
	w.m.pending.Set(float64(n))
	w.m.lag.Set(0)
	if !due.IsZero() {
		w.m.lag.Set(now.Sub(due).Seconds())
	}
	w.m.oldestPending.Set(0)
	if oldest >= 0 {
		w.m.oldestPending.Set(float64(max(now.Unix()-oldest, 0)))
	}
}

// catchUpWait bounds how long caughtUp waits for the replica to catch up before it gives up
// for this cycle. The replica pulls new replication log entries within milliseconds of their
// creation — the worker's own INSERTs make entries too — and fetches new parts soon after: the
// wait covers that, not a replica that lacks parts for longer.
const catchUpWait = time.Second

// caughtUp reports whether the worker may go on: always on one server; on a cluster, whether
// its replica holds every part the replicas committed (replicaBehind), waiting up to
// catchUpWait for it. A replica behind is counted in ingest_rollup_replication_waits_total and
// logged when the wait begins and ends.
func (w *Worker) caughtUp(ctx context.Context) (bool, error) {
	if w.cfg.Cluster == "" {
		return true, nil
	}
	var behind string
	for deadline := time.Now().Add(catchUpWait); ; {
		var err error
		if behind, err = w.replicaBehind(ctx); err != nil {
			return false, err
		}
		if behind == "" || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	switch {
	case behind != "" && !w.behind:
		w.log.Info("roll-up worker waits for its replica to catch up", "cluster", w.cfg.Cluster, "behind", behind)
	case behind == "" && w.behind:
		w.log.Info("roll-up worker's replica caught up", "cluster", w.cfg.Cluster)
	}
	w.behind = behind != ""
	if w.behind {
		w.m.waits.Inc()
	}
	return !w.behind, nil
}

// Behind reports whether, on a cluster, the last check of the worker's replica found it
// lacking parts the other replicas committed: the last cycle then stopped early, and windows
// of any level may be left to recompute. Always false on one server.
func (w *Worker) Behind() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.behind
}

// Pending returns the number of dirty 1m windows not recomputed yet (still open, or their
// recompute failed), as of the last cycle.
func (w *Worker) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, _, _ := w.t.pending(time.Now())
	return n
}

// waitSchema returns nil once the database records migration SchemaVersion (read until it
// does), and an error wrapping errSchemaNotReady before.
func (w *Worker) waitSchema(ctx context.Context) error {
	if w.schemaReady {
		return nil
	}
	applied, err := schema.Applied(ctx, w.conn, w.cfg.Database)
	if err == nil && len(applied[SchemaVersion]) > 0 {
		w.schemaReady = true
		return nil
	}
	if err != nil {
		w.m.errors.WithLabelValues(opSchema).Inc()
	}
	if !w.waitLogged {
		w.log.Info("roll-up worker waiting for the schema migration", "version", SchemaVersion, "database", w.cfg.Database, "err", err)
		w.waitLogged = true
	}
	return fmt.Errorf("cannot run the roll-up worker on database %q: %w (migration %d)", w.cfg.Database, errSchemaNotReady, SchemaVersion)
}

func (w *Worker) serverNow(ctx context.Context) (time.Time, error) {
	var now uint32
	if err := w.conn.QueryRow(ctx, "SELECT toUInt32(now())").Scan(&now); err != nil {
		return time.Time{}, fmt.Errorf("cannot read ClickHouse's clock: %w", err)
	}
	return time.Unix(int64(now), 0), nil
}

// loadCursors starts the tracker at the persisted cursors, once.
func (w *Worker) loadCursors(ctx context.Context) error {
	if w.t.loaded(schema.TableSets[0]) {
		return nil
	}
	rows, err := w.conn.Query(ctx, "SELECT table_set, toUInt32(argMax(cursor, version)) FROM "+table(w.cfg.Database, StateTable, "")+" GROUP BY table_set")
	if err != nil {
		return fmt.Errorf("cannot read the roll-up cursors: %w", err)
	}
	defer rows.Close()
	cursors := map[string]int64{}
	for rows.Next() {
		var (
			set string
			c   uint32
		)
		if err := rows.Scan(&set, &c); err != nil {
			return fmt.Errorf("cannot read the roll-up cursors: %w", err)
		}
		cursors[set] = int64(c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read the roll-up cursors: %w", err)
	}
	for _, set := range schema.TableSets {
		w.t.start(set, cursors[set])
		w.persisted[set] = cursors[set]
		w.log.Info("roll-up worker resumes", "table_set", setName(set), "cursor", time.Unix(cursors[set], 0).UTC())
	}
	return nil
}

func setName(set string) string {
	if set == "" {
		return "live"
	}
	return set
}

func (w *Worker) readMarkers(ctx context.Context, set string) ([]marker, error) {
	rows, err := w.conn.Query(ctx, markersSQL(w.cfg.Database, set, w.t.readFrom[set]))
	if err != nil {
		return nil, fmt.Errorf("cannot read the markers of %s: %w", "metrics_windows"+set, err)
	}
	defer rows.Close()
	var out []marker
	for rows.Next() {
		var (
			m          = marker{set: set}
			win, insAt uint32
		)
		if err := rows.Scan(&m.tenant, &win, &m.topic, &m.partition, &m.maxOffset, &m.rows, &insAt); err != nil {
			return nil, fmt.Errorf("cannot read the markers of %s: %w", "metrics_windows"+set, err)
		}
		m.window, m.insertedAt = int64(win), int64(insAt)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the markers of %s: %w", "metrics_windows"+set, err)
	}
	return out, nil
}

// nextVersion returns a version above every one this worker used: the wall clock in ns.
// It is taken before the recompute's read starts, so that (on one clock) a later version
// always comes from a later read.
func (w *Worker) nextVersion() uint64 {
	v := max(uint64(time.Now().UnixNano()), w.lastVersion+1)
	w.lastVersion = v
	return v
}

// recompute writes the windows of r and the tombstones of the series they lost. On a cluster
// each of the two statements runs only after the replica was found caught up (caughtUp), on the
// same connection: the windows are then computed from every part committed before (the data of
// every marker read, the 1m rows of another worker), and the tombstones from the windows just
// written, even if the connection moved to another replica in between (a broken connection
// fails the statement that used it; only a new one reaches another replica, and is checked
// first). A replica behind fails the range, which stays dirty for the next cycle.
func (w *Worker) recompute(ctx context.Context, r window) error {
	start := time.Now()
	v := w.nextVersion()
	what := fmt.Sprintf("%s%s of tenant %s, %v to %v", levelDefs[r.level].table, r.set, r.tenant,
		time.Unix(r.from, 0).UTC().Format(time.DateTime), time.Unix(r.to, 0).UTC().Format(time.DateTime))
	if err := w.requireCaughtUp(ctx, what); err != nil {
		return err
	}
	if err := w.conn.Exec(ctx, recomputeSQL(w.cfg.Database, r, v), r.tenant); err != nil {
		return fmt.Errorf("cannot recompute %s: %w", what, err)
	}
	if err := w.requireCaughtUp(ctx, "the tombstones of "+what); err != nil {
		return err
	}
	if err := w.conn.Exec(ctx, tombstoneSQL(w.cfg.Database, r, v), r.tenant); err != nil {
		return fmt.Errorf("cannot write the tombstones of %s: %w", what, err)
	}
	w.m.duration.WithLabelValues(r.level.String()).Observe(time.Since(start).Seconds())
	w.m.windows.WithLabelValues(r.level.String()).Add(float64(r.count()))
	return nil
}

// persistCursors writes the cursor of each table set that moved since it was last written.
func (w *Worker) persistCursors(ctx context.Context) error {
	var errs []error
	for _, set := range schema.TableSets {
		c := max(w.t.cursor(set), 0)
		if c == w.persisted[set] {
			continue
		}
		if err := w.writeCursor(ctx, set, c); err != nil {
			errs = append(errs, err)
			continue
		}
		w.persisted[set] = c
	}
	return errors.Join(errs...)
}

func (w *Worker) writeCursor(ctx context.Context, set string, c int64) error {
	b, err := w.conn.PrepareBatch(ctx, "INSERT INTO "+table(w.cfg.Database, StateTable, "")+" (table_set, cursor, version, updated_at)")
	if err != nil {
		return fmt.Errorf("cannot write the roll-up cursor of the %s tables: %w", setName(set), err)
	}
	if err := b.Append(set, time.Unix(c, 0), w.nextVersion(), time.Now()); err != nil {
		_ = b.Abort()
		return fmt.Errorf("cannot write the roll-up cursor of the %s tables: %w", setName(set), err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot write the roll-up cursor of the %s tables: %w", setName(set), err)
	}
	return nil
}

// prune drops the daily marker partitions whose whole day lies before both the retention
// (now - Retention) and the set's cursor minus the horizon (never a marker still needed).
func (w *Worker) prune(ctx context.Context, now time.Time) error {
	var errs []error
	for _, set := range schema.TableSets {
		limit := min(now.Add(-w.cfg.Retention).Unix(), w.t.cursor(set)-w.t.horizon)
		ids, err := w.partitions(ctx, "metrics_windows"+set)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, id := range droppable(ids, limit) {
			if err := w.conn.Exec(ctx, "ALTER TABLE "+table(w.cfg.Database, "metrics_windows", set)+" DROP PARTITION ID '"+id+"'"); err != nil {
				errs = append(errs, fmt.Errorf("cannot drop partition %s of %s: %w", id, "metrics_windows"+set, err))
				continue
			}
			w.m.pruned.Inc()
			w.log.Info("dropped old roll-up markers", "table", "metrics_windows"+set, "partition", id)
		}
	}
	return errors.Join(errs...)
}

func (w *Worker) partitions(ctx context.Context, tbl string) ([]string, error) {
	rows, err := w.conn.Query(ctx, "SELECT DISTINCT partition_id FROM system.parts WHERE database = ? AND table = ? AND active", w.cfg.Database, tbl)
	if err != nil {
		return nil, fmt.Errorf("cannot list the partitions of %s: %w", tbl, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("cannot list the partitions of %s: %w", tbl, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// droppable returns the partition ids (YYYYMMDD of inserted_at) whose day ends at or before
// limit (unix seconds), sorted. Ids of another shape are left alone.
func droppable(ids []string, limit int64) []string {
	var out []string
	for _, id := range ids {
		if len(id) != 8 {
			continue
		}
		if _, err := strconv.Atoi(id); err != nil {
			continue
		}
		day, err := time.Parse("20060102", id)
		if err != nil {
			continue
		}
		if day.Add(24*time.Hour).Unix() <= limit {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Mark inserts a marker for each of minutes (truncated to the minute, UTC) of tenant into
// set's markers table (metrics_windows{set}; set is "" for the live tables or
// schema.ShadowTableSet) of database, so that every roll-up worker recomputes those windows
// within its Interval (once they are closed). Inserts into metrics{set} need no Mark (a view
// writes their markers in the same INSERT); a change that fires no view does: an ALTER …
// DELETE (a replay promote that deletes rows calls Mark after the delete mutation is done).
// The markers are one native batch; their kafka_topic is empty, their max_offset is the
// negated client clock in ns (it makes every call's markers distinct from an earlier call's:
// workers compare markers whole, and a marker equal to one already seen would be skipped), and
// inserted_at is the server's clock. It is safe for concurrent use.
func Mark(ctx context.Context, conn driver.Conn, database, set, tenant string, minutes []time.Time) error {
	if !schema.ValidDatabase(database) {
		return fmt.Errorf("cannot mark roll-up windows in database %q: not a valid name", database)
	}
	if !slices.Contains(schema.TableSets, set) {
		return fmt.Errorf("cannot mark roll-up windows of table set %q: not one of %q", set, schema.TableSets)
	}
	if len(minutes) == 0 {
		return nil
	}
	tbl := "metrics_windows" + set
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+table(database, tbl, "")+" (tenant, window_start, kafka_topic, kafka_partition, max_offset, rows)")
	if err != nil {
		return fmt.Errorf("cannot mark %d roll-up windows of tenant %s in %s: %w", len(minutes), tenant, tbl, err)
	}
	id := -time.Now().UnixNano()
	for _, m := range minutes {
		if err := b.Append(tenant, m.UTC().Truncate(time.Minute), "", int32(0), id, uint64(0)); err != nil {
			_ = b.Abort()
			return fmt.Errorf("cannot mark %d roll-up windows of tenant %s in %s: %w", len(minutes), tenant, tbl, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot mark %d roll-up windows of tenant %s in %s: %w", len(minutes), tenant, tbl, err)
	}
	return nil
}
