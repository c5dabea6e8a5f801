package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/ingestdev/ingest/internal/chmutation"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/rollup"
)

// Mechanism is how a promote applies its change, and what it guarantees.
const Mechanism = "per live table: one ALTER TABLE … DELETE (a mutation, only if rows must go) of the tenant's live rows of the planned offsets " +
	"that have no identical replayed row, submitted first so that it cannot touch what follows; then one INSERT … SELECT of the replayed rows " +
	"live lacks; then the promote waits for the mutation and has the changed roll-up minutes recomputed. Through the documented query path " +
	"(FINAL) nothing is doubled and other tenants' rows are never touched; see docs/replay.md"

// replayedRows is the SQL of the rows a promote makes live: the replay table's, read with
// FINAL, within the plan's scope.
func (m *Manager) replayedRows(p Plan, s record.Signal, id string) string {
	return "FROM " + m.tables.q(replayTable(s, id)) + " FINAL WHERE " + scope(p)
}

// insertCond selects the replayed rows that live (read with FINAL) lacks.
func (m *Manager) insertCond(p Plan, s record.Signal) string {
	return " AND " + rowKey(s) + " NOT IN (SELECT " + rowKey(s) + " FROM " + m.tables.q(liveTable(s)) + " FINAL WHERE " + scope(p) + ")"
}

// deleteCond selects the live rows of the plan that have no identical replayed row.
func (m *Manager) deleteCond(p Plan, s record.Signal, id string) string {
	return scope(p) + " AND " + rowKey(s) + " NOT IN (SELECT " + rowKey(s) + " " + m.replayedRows(p, s, id) + ")"
}

// changes counts, per window, the rows a promote of job j would insert into and delete from
// live.
func (m *Manager) changes(ctx context.Context, j Job) ([]PromoteChange, error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(finalSettings))
	byKey := map[[2]int64]*PromoteChange{} // (signal index, window)
	var out []PromoteChange
	add := func(i int, s record.Signal, q string, insert bool) error {
		rows, err := m.o.Conn.Query(ctx, q)
		if err != nil {
			return &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot count what a promote changes in %s.%s", m.db, liveTable(s)), Err: err}
		}
		defer rows.Close()
		for rows.Next() {
			var (
				w time.Time
				n uint64
			)
			if err := rows.Scan(&w, &n); err != nil {
				return &Error{Code: CodeClickHouse, Msg: "cannot count what a promote changes", Err: err}
			}
			k := [2]int64{int64(i), w.Unix()}
			c := byKey[k]
			if c == nil {
				c = &PromoteChange{Table: liveTable(s), Start: w.UTC(), Partition: dayPartition(w.UTC())}
				byKey[k] = c
			}
			if insert {
				c.Insert += n
			} else {
				c.Delete += n
			}
		}
		return rows.Err()
	}
	for i, s := range signals {
		ins := "SELECT toStartOfMinute(time) AS w, count() " + m.replayedRows(j.Plan, s, j.ID) + m.insertCond(j.Plan, s) + " GROUP BY w"
		if err := add(i, s, ins, true); err != nil {
			return nil, err
		}
		del := "SELECT toStartOfMinute(time) AS w, count() FROM " + m.tables.q(liveTable(s)) + " WHERE " + m.deleteCond(j.Plan, s, j.ID) + " GROUP BY w"
		if err := add(i, s, del, false); err != nil {
			return nil, err
		}
	}
	for _, c := range byKey {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b PromoteChange) int {
		if a.Table != b.Table {
			return signalIndex(signalOf(a.Table)) - signalIndex(signalOf(b.Table))
		}
		return a.Start.Compare(b.Start)
	})
	return out, nil
}

func signalOf(table string) record.Signal {
	for _, s := range signals {
		if liveTable(s) == table {
			return s
		}
	}
	return 0
}

// PromotePlan returns what promoting job id would change now.
func (m *Manager) PromotePlan(ctx context.Context, id string) (PromotePlan, error) {
	j, err := m.loaded(ctx, id)
	if err != nil {
		return PromotePlan{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	if err := m.tables.ready(ctx, jobTables(id)...); err != nil {
		return PromotePlan{}, err
	}
	return m.promotePlan(ctx, j)
}

func (m *Manager) promotePlan(ctx context.Context, j Job) (PromotePlan, error) {
	cs, err := m.changes(ctx, j)
	if err != nil {
		return PromotePlan{}, err
	}
	pp := PromotePlan{ID: j.ID, Tenant: j.Plan.Tenant, Changes: cs, Mechanism: Mechanism}
	for _, c := range cs {
		pp.Insert += c.Insert
		pp.Delete += c.Delete
	}
	b, _ := json.Marshal(struct {
		ID      string
		Changes []PromoteChange
	}{j.ID, cs})
	sum := sha256.Sum256(b)
	pp.Fingerprint = hex.EncodeToString(sum[:8])
	return pp, nil
}

// Promote makes the tenant's window in live equal the replayed rows, if the promote plan
// still has fingerprint: it deletes the live rows of the planned offsets that have no
// identical replayed row, inserts the replayed rows live lacks, waits for the delete, and
// has the changed roll-up minutes recomputed.
func (m *Manager) Promote(ctx context.Context, id, fingerprint string) (PromoteResult, error) {
	if fingerprint == "" {
		return PromoteResult{}, errorf(CodeInvalid, "a promote needs the fingerprint of the promote plan it applies: read it with `ingestctl replay promote %s` (GET /v1/replays/%s/promote)", id, id)
	}
	j, release, err := m.claimed(ctx, id)
	if err != nil {
		return PromoteResult{}, err
	}
	defer release()
	if j.State != StateLoaded {
		if err := diffable(j); err != nil {
			return PromoteResult{}, err
		}
		return PromoteResult{}, errorf(CodeState, "replay %s is promoted already (%s); `ingestctl replay diff %s` shows live now", id, j.Promotion.PromotedAt.Format(time.RFC3339), id)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	if err := m.tables.ready(ctx, jobTables(id)...); err != nil {
		return PromoteResult{}, err
	}
	if err := m.liveCaughtUp(ctx, j.Plan); err != nil {
		return PromoteResult{}, err
	}
	pp, err := m.promotePlan(ctx, j)
	if err != nil {
		return PromoteResult{}, err
	}
	if pp.Fingerprint != fingerprint {
		return PromoteResult{}, errorf(CodeChanged, "the promote plan of replay %s changed since it was shown (fingerprint %s, now %s: %d rows to insert, %d to delete): look again with `ingestctl replay promote %s`",
			id, fingerprint, pp.Fingerprint, pp.Insert, pp.Delete, id)
	}
	start := m.now()
	res := PromoteResult{PromotePlan: pp}
	// From here on the change is applied whole even if the caller goes away, within the
	// request timeout.
	ctx, cancelApply := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.RequestTimeout)
	defer cancelApply()
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(finalSettings))
	for _, s := range signals {
		var ins, del uint64
		for _, c := range pp.Changes {
			if c.Table == liveTable(s) {
				ins, del = ins+c.Insert, del+c.Delete
			}
		}
		if del > 0 {
			known, err := chmutation.List(ctx, m.o.Conn, m.db)
			if err != nil {
				return res, &Error{Code: CodeClickHouse, Msg: "cannot read system.mutations", Err: err}
			}
			if err := m.o.Conn.Exec(ctx, "ALTER TABLE "+m.tables.q(liveTable(s))+" DELETE WHERE "+m.deleteCond(j.Plan, s, id)); err != nil {
				return res, &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot delete the rows to replace in %s.%s", m.db, liveTable(s)), Err: err}
			}
			res.Mutations++
			if ins > 0 {
				if err := m.insertReplayed(ctx, j, s); err != nil {
					return res, err
				}
			}
			if _, err := m.tables.waitMutations(ctx, known, []string{liveTable(s)}, 50*time.Millisecond); err != nil {
				if ctx.Err() != nil {
					return res, &Error{Code: CodeTimeout, Msg: fmt.Sprintf("the delete in %s.%s did not finish within replay.request_timeout; ClickHouse goes on with it (system.mutations)", m.db, liveTable(s)), Err: err}
				}
				return res, &Error{Code: CodeClickHouse, Msg: "cannot read system.mutations", Err: err}
			}
		} else if ins > 0 {
			if err := m.insertReplayed(ctx, j, s); err != nil {
				return res, err
			}
		}
		res.Inserted += ins
		res.Deleted += del
	}
	var minutes []time.Time
	for _, c := range pp.Changes {
		if c.Table == liveTable(record.SignalMetric) {
			minutes = append(minutes, c.Start)
		}
	}
	if len(minutes) > 0 {
		if err := rollup.Mark(ctx, m.o.Conn, m.db, "", j.Plan.Tenant, minutes); err != nil {
			return res, &Error{Code: CodeClickHouse, Msg: "the window is promoted, but its roll-up minutes could not be marked for recompute; promote again to retry", Err: err}
		}
		res.RollupWindows = len(minutes)
	}
	res.PromotedAt = m.now().UTC()
	res.DurationSeconds = m.now().Sub(start).Seconds()
	j.State, j.Promotion, j.UpdatedAt = StatePromoted, &res, res.PromotedAt
	if err := m.o.Store.Put(ctx, j); err != nil {
		return res, err
	}
	m.log.Info("replay promoted", "id", id, "tenant", j.Plan.Tenant, "inserted", res.Inserted, "deleted", res.Deleted)
	return res, nil
}

// replicatedInsertSettings are promote's INSERT settings on a cluster: finalSettings, and no
// deduplication. A Replicated table drops an INSERT whose block hashes like one of its last
// inserted blocks (insert_deduplicate; replicated_deduplication_window, 100 blocks), and rows a
// promote restores are often exactly a block the loader inserted before the incident removed
// it: deduplicated, the promote would report them inserted and live would still lack them.
var replicatedInsertSettings = clickhouse.Settings{"optimize_move_to_prewhere": 0, "insert_deduplicate": 0}

// insertReplayed inserts the replayed rows of signal s that live lacks, in one INSERT … SELECT.
func (m *Manager) insertReplayed(ctx context.Context, j Job, s record.Signal) error {
	cols := strings.Join(loader.ColumnNames(s), ", ")
	q := "INSERT INTO " + m.tables.q(liveTable(s)) + " (" + cols + ") SELECT " + cols + " " + m.replayedRows(j.Plan, s, j.ID) + m.insertCond(j.Plan, s)
	if m.tables.cluster != "" {
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(replicatedInsertSettings))
	}
	if err := m.o.Conn.Exec(ctx, q); err != nil {
		return &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot insert the replayed rows into %s.%s", m.db, liveTable(s)), Err: err}
	}
	return nil
}

// liveCaughtUp refuses a promote while the live loader has not loaded the whole window: rows
// it loads later would land beside the promoted ones.
func (m *Manager) liveCaughtUp(ctx context.Context, p Plan) error {
	led, err := m.tables.liveLedger(ctx, p.Topic)
	if err != nil {
		return err
	}
	for _, r := range p.Partitions {
		if r.Records == 0 {
			continue
		}
		loaded := int64(-1)
		for i := range signals {
			if o, ok := led[i][r.Partition]; ok {
				loaded = max(loaded, o)
			}
		}
		if loaded < r.LastOffset {
			return errorf(CodeNotReady, "the live loader has loaded partition %d of %s up to offset %d only, and the window ends at offset %d: promote once it has caught up (its lag is in ingest_loader_lag_records)",
				r.Partition, p.Topic, loaded, r.LastOffset)
		}
	}
	return nil
}
