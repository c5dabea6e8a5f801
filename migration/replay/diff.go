package replay

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/ingestdev/ingest/record"
)

// finalSettings keeps WHERE after FINAL: with the condition moved to PREWHERE, a row could be
// filtered out before ReplacingMergeTree chose between the versions of its key.
var finalSettings = clickhouse.Settings{"optimize_move_to_prewhere": 0}

// windowExpr returns the SQL of a window's start at granularity.
func windowExpr(granularity string) string {
	if granularity == ByHour {
		return "toStartOfHour(time)"
	}
	return "toStartOfMinute(time)"
}

// side is one side of a diff window.
type side struct {
	rows uint64
	hash uint64
}

// windows reads, per window, the rows of table (read with FINAL, as queries do) that the plan
// covers: their count and the sum of their hashes.
func (m *Manager) windows(ctx context.Context, p Plan, s record.Signal, table, granularity string) (map[int64]side, error) {
	q := "SELECT " + windowExpr(granularity) + " AS w, count(), sum(" + rowHash(s) + ") FROM " + m.tables.q(table) +
		" FINAL WHERE " + scope(p) + " GROUP BY w"
	rows, err := m.o.Conn.Query(clickhouse.Context(ctx, clickhouse.WithSettings(finalSettings)), q)
	if err != nil {
		return nil, &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot read the windows of %s.%s", m.db, table), Err: err}
	}
	defer rows.Close()
	out := map[int64]side{}
	for rows.Next() {
		var (
			w time.Time
			v side
		)
		if err := rows.Scan(&w, &v.rows, &v.hash); err != nil {
			return nil, &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot read the windows of %s.%s", m.db, table), Err: err}
		}
		out[w.Unix()] = v
	}
	if err := rows.Err(); err != nil {
		return nil, &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot read the windows of %s.%s", m.db, table), Err: err}
	}
	return out, nil
}

// Diff compares, per table and window, the tenant's rows of the planned offsets in live and
// in the replay's tables, both read with FINAL (the documented query path). On a cluster both
// are the local tables of the replica the connection reaches, read once it holds what the
// others committed (tables.ready), as promote reads and writes them.
func (m *Manager) Diff(ctx context.Context, id, granularity string) (Diff, error) {
	switch granularity {
	case "":
		granularity = ByMinute
	case ByMinute, ByHour:
	default:
		return Diff{}, errorf(CodeInvalid, "--by=%q: a diff is by minute or by hour", granularity)
	}
	j, err := m.loaded(ctx, id)
	if err != nil {
		return Diff{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	if err := m.tables.ready(ctx, jobTables(id)...); err != nil {
		return Diff{}, err
	}
	d := Diff{ID: id, Tenant: j.Plan.Tenant, Topic: j.Plan.Topic, Granularity: granularity}
	for _, s := range signals {
		live, err := m.windows(ctx, j.Plan, s, liveTable(s), granularity)
		if err != nil {
			return Diff{}, err
		}
		replayed, err := m.windows(ctx, j.Plan, s, replayTable(s, id), granularity)
		if err != nil {
			return Diff{}, err
		}
		d.Windows = append(d.Windows, compare(liveTable(s), live, replayed)...)
	}
	for _, w := range d.Windows {
		d.Totals.add(w)
	}
	return d, nil
}

// loaded returns job id if its tables are complete (diffable).
func (m *Manager) loaded(ctx context.Context, id string) (Job, error) {
	j, err := m.get(ctx, id)
	if err == nil {
		err = diffable(j)
	}
	return j, err
}

// diffable refuses a diff or promote of a job whose tables are not complete.
func diffable(j Job) error {
	switch j.State {
	case StateLoaded, StatePromoted:
		return nil
	case StateDiscarded:
		return errorf(CodeState, "replay %s is discarded: its tables are gone; plan a new one", j.ID)
	default:
		return errorf(CodeState, "replay %s is %s: diff and promote need every planned record in the replay tables (state loaded); see `ingestctl replay status %s`", j.ID, j.State, j.ID)
	}
}

// compare classifies the windows of one table, in time order.
func compare(table string, live, replayed map[int64]side) []DiffWindow {
	keys := make([]int64, 0, len(live)+len(replayed))
	for k := range live {
		keys = append(keys, k)
	}
	for k := range replayed {
		if _, ok := live[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]DiffWindow, 0, len(keys))
	for _, k := range keys {
		l, r := live[k], replayed[k]
		w := DiffWindow{Table: table, Start: time.Unix(k, 0).UTC(), LiveRows: l.rows, ReplayRows: r.rows,
			LiveHash: hexHash(l), ReplayHash: hexHash(r)}
		switch {
		case l == r:
			w.Status = WindowMatching
		case l.rows < r.rows:
			w.Status = WindowMissingInLive
		case l.rows > r.rows:
			w.Status = WindowExtraInLive
		default:
			w.Status = WindowDiffering
		}
		out = append(out, w)
	}
	return out
}

func hexHash(s side) string {
	if s.rows == 0 {
		return ""
	}
	return fmt.Sprintf("%016x", s.hash)
}

func (t *DiffTotals) add(w DiffWindow) {
	t.Windows++
	t.LiveRows += w.LiveRows
	t.ReplayRows += w.ReplayRows
	switch w.Status {
	case WindowMatching:
		t.Matching++
	case WindowMissingInLive:
		t.MissingInLive++
	case WindowExtraInLive:
		t.ExtraInLive++
	default:
		t.Differing++
	}
}

// dayPartition returns the live tables' partition (toYYYYMMDD) of a window start.
func dayPartition(t time.Time) string { return t.Format("20060102") }
