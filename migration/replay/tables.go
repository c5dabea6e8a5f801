package replay

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// signals are the signals a replay writes, in table order.
var signals = []record.Signal{record.SignalLog, record.SignalMetric, record.SignalSpan}

// liveTable returns the live table of signal s: logs, metrics or spans.
func liveTable(s record.Signal) string {
	switch s {
	case record.SignalLog:
		return "logs"
	case record.SignalMetric:
		return "metrics"
	default:
		return "spans"
	}
}

// replayTable returns job id's own table of signal s: logs_replay_<id>, …
func replayTable(s record.Signal, id string) string { return liveTable(s) + "_replay_" + id }

// signalIndex returns the index of s in signals, or -1.
func signalIndex(s record.Signal) int {
	for i, x := range signals {
		if x == s {
			return i
		}
	}
	return -1
}

// targets returns the tables of job id: what plan prints.
func targets(id string) []TableTarget {
	out := make([]TableTarget, len(signals))
	for i, s := range signals {
		out[i] = TableTarget{Signal: liveTable(s), Live: liveTable(s), Replay: replayTable(s, id)}
	}
	return out
}

// validID reports whether id can name tables: digits only (the store's ids).
func validID(id string) bool {
	if id == "" || len(id) > 20 {
		return false
	}
	_, err := strconv.ParseUint(id, 10, 64)
	return err == nil
}

// tables is a database's replay tables: their DDL, ledger and removal.
type tables struct {
	conn driver.Conn
	db   string
}

// q returns db.name, quoted (both are checked identifiers).
func (t tables) q(name string) string { return "`" + t.db + "`.`" + name + "`" }

// create creates job id's tables, each with the live table's columns and engine, and each
// with the view that writes the offsets ledger in the same INSERT (as the loader's tables
// have): the ledger makes a run exactly once per record across crashes. The tables have no
// roll-up views: nothing reads them but diff and promote.
func (t tables) create(ctx context.Context, id string) error {
	for _, s := range signals {
		rt := replayTable(s, id)
		if err := t.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+t.q(rt)+" AS "+t.q(liveTable(s))); err != nil {
			return &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot create table %s.%s", t.db, rt), Err: err}
		}
		mv := "CREATE MATERIALIZED VIEW IF NOT EXISTS " + t.q(rt+"_offsets_mv") + " TO " + t.q("loader_offsets") + " AS SELECT '" + rt +
			"' AS table_name, kafka_topic, kafka_partition, toUInt64(max(kafka_offset)) AS kafka_offset, now() AS updated_at FROM " +
			t.q(rt) + " GROUP BY kafka_topic, kafka_partition"
		if err := t.conn.Exec(ctx, mv); err != nil {
			return &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot create the ledger view of %s.%s", t.db, rt), Err: err}
		}
	}
	return nil
}

// drop drops job id's tables and views, and deletes their ledger entries.
func (t tables) drop(ctx context.Context, id string) error {
	var names []string
	for _, s := range signals {
		rt := replayTable(s, id)
		names = append(names, "'"+rt+"'")
		for _, name := range []string{rt + "_offsets_mv", rt} {
			if err := t.conn.Exec(ctx, "DROP TABLE IF EXISTS "+t.q(name)); err != nil {
				return &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot drop %s.%s", t.db, name), Err: err}
			}
		}
	}
	if err := t.conn.Exec(ctx, "ALTER TABLE "+t.q("loader_offsets")+" DELETE WHERE table_name IN ("+strings.Join(names, ", ")+")"); err != nil {
		return &Error{Code: CodeClickHouse, Msg: "cannot delete the replay's entries of the offsets ledger", Err: err}
	}
	return nil
}

// ledger returns, per signal index and partition, the highest offset of topic that job id's
// table holds (absent: none).
func (t tables) ledger(ctx context.Context, id, topic string) ([]map[int32]int64, error) {
	return t.readLedger(ctx, topic, func(s record.Signal) string { return replayTable(s, id) })
}

// liveLedger returns the live tables' ledger of topic, per signal index and partition.
func (t tables) liveLedger(ctx context.Context, topic string) ([]map[int32]int64, error) {
	return t.readLedger(ctx, topic, liveTable)
}

func (t tables) readLedger(ctx context.Context, topic string, name func(record.Signal) string) ([]map[int32]int64, error) {
	out := make([]map[int32]int64, len(signals))
	var in []string
	for i, s := range signals {
		out[i] = map[int32]int64{}
		in = append(in, "'"+name(s)+"'")
	}
	rows, err := t.conn.Query(ctx, "SELECT table_name, kafka_partition, max(kafka_offset) FROM "+t.q("loader_offsets")+
		" WHERE table_name IN ("+strings.Join(in, ", ")+") AND kafka_topic = ? GROUP BY table_name, kafka_partition", topic)
	if err != nil {
		return nil, &Error{Code: CodeClickHouse, Msg: "cannot read the offsets ledger", Err: err}
	}
	defer rows.Close()
	for rows.Next() {
		var (
			table string
			p     int32
			off   uint64
		)
		if err := rows.Scan(&table, &p, &off); err != nil {
			return nil, &Error{Code: CodeClickHouse, Msg: "cannot read the offsets ledger", Err: err}
		}
		for i, s := range signals {
			if name(s) == table {
				out[i][p] = int64(off)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, &Error{Code: CodeClickHouse, Msg: "cannot read the offsets ledger", Err: err}
	}
	return out, nil
}

// scope is the SQL condition selecting the rows a plan covers: the tenant's rows read from
// the planned offsets of its topic, with event times in the plan's range (a key column, so
// FINAL and the primary index stay exact and fast).
func scope(p Plan) string {
	var parts []string
	for _, r := range p.Partitions {
		if r.Records == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("(kafka_partition = %d AND kafka_offset >= %d AND kafka_offset < %d)", r.Partition, r.From, r.To))
	}
	if len(parts) == 0 {
		parts = []string{"0"}
	}
	cond := "tenant = " + quote(p.Tenant) + " AND kafka_topic = " + quote(p.Topic) + " AND (" + strings.Join(parts, " OR ") + ")"
	if p.EventTimeMin != nil && p.EventTimeMax != nil {
		cond += fmt.Sprintf(" AND time >= toDateTime(%d) AND time <= toDateTime(%d)", clampSec(p.EventTimeMin.Unix()), clampSec(p.EventTimeMax.Unix()))
	}
	return cond
}

// clampSec clamps unix seconds to DateTime's range, as the loader does for the time column.
func clampSec(s int64) int64 { return min(max(s, 0), 1<<32-1) }

// quote returns s as a ClickHouse string literal.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

// rowHash is the SQL hash of a row of signal s: every column, so that two rows hash alike
// only if they are the same row, provenance included.
func rowHash(s record.Signal) string {
	return "cityHash64(" + strings.Join(loader.ColumnNames(s), ", ") + ")"
}

// rowKey is the SQL identity of a row of signal s for promote: where it was read, and its hash.
func rowKey(s record.Signal) string { return "(kafka_partition, kafka_offset, " + rowHash(s) + ")" }
