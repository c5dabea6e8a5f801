package replay

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/internal/chmutation"
	"github.com/ingestdev/ingest/internal/chreplica"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/schema"
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

// jobTables returns the live tables, then job id's replay tables: what a diff or promote reads.
func jobTables(id string) []string {
	out := make([]string, 0, 2*len(signals))
	for _, s := range signals {
		out = append(out, liveTable(s))
	}
	for _, s := range signals {
		out = append(out, replayTable(s, id))
	}
	return out
}

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

// tables is a database's replay tables: their DDL, ledger and removal. With a cluster (one
// shard of Replicated tables, see schema.MigrateCluster) the DDL runs ON CLUSTER and every
// replay table is Replicated with a ZooKeeper path of its own.
type tables struct {
	conn    driver.Conn
	db      string
	cluster string // "": one server
}

// q returns db.name, quoted (both are checked identifiers).
func (t tables) q(name string) string { return "`" + t.db + "`.`" + name + "`" }

// onCluster is the ON CLUSTER clause of the DDL: "" on one server.
func (t tables) onCluster() string {
	if t.cluster == "" {
		return ""
	}
	return " ON CLUSTER `" + t.cluster + "`"
}

// create creates job id's tables, each with the live table's columns and engine, and each
// with the view that writes the offsets ledger in the same INSERT (as the loader's tables
// have): the ledger makes a run exactly once per record across crashes. The tables have no
// roll-up views: nothing reads them but diff and promote.
//
// On a cluster each table is created ON CLUSTER with the live table's engine (read from
// system.tables) given a ZooKeeper path of its own (replayEngine): AS alone would copy the live
// table's path, and ClickHouse refuses a second table of a replica there (code 253). What this
// replica has already is not created again, so that a resumed run does not wait for every
// replica (each ON CLUSTER statement does).
func (t tables) create(ctx context.Context, id string) error {
	var have map[string]bool
	if t.cluster != "" {
		var err error
		if have, err = t.existing(ctx, id); err != nil {
			return err
		}
	}
	for _, s := range signals {
		rt := replayTable(s, id)
		if !have[rt] {
			create := "CREATE TABLE IF NOT EXISTS " + t.q(rt) + t.onCluster() + " AS " + t.q(liveTable(s))
			if t.cluster != "" {
				engine, err := t.replayEngine(ctx, liveTable(s), rt)
				if err != nil {
					return err
				}
				create += " ENGINE = " + engine
			}
			if err := t.conn.Exec(ctx, create); err != nil {
				return &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot create table %s.%s%s", t.db, rt, t.hint(err)), Err: err}
			}
		}
		if have[rt+"_offsets_mv"] {
			continue
		}
		mv := "CREATE MATERIALIZED VIEW IF NOT EXISTS " + t.q(rt+"_offsets_mv") + t.onCluster() + " TO " + t.q("loader_offsets") + " AS SELECT '" + rt +
			"' AS table_name, kafka_topic, kafka_partition, toUInt64(max(kafka_offset)) AS kafka_offset, now() AS updated_at FROM " +
			t.q(rt) + " GROUP BY kafka_topic, kafka_partition"
		if err := t.conn.Exec(ctx, mv); err != nil {
			return &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot create the ledger view of %s.%s", t.db, rt), Err: err}
		}
	}
	return nil
}

// codeReplicaExists is ClickHouse's REPLICA_IS_ALREADY_EXIST: a Replicated table created at a
// ZooKeeper path where this replica has a table already.
const codeReplicaExists = 253

// hint explains a failed CREATE of a replay table on one server whose live tables are
// Replicated: the control plane lacks clickhouse.cluster.
func (t tables) hint(err error) string {
	var ex *clickhouse.Exception
	if t.cluster == "" && errors.As(err, &ex) && ex.Code == codeReplicaExists {
		return " (the live tables are Replicated: set clickhouse.cluster to the loaders' clickhouse_cluster)"
	}
	return ""
}

// existing returns which of job id's tables and views exist on the replica conn reaches.
func (t tables) existing(ctx context.Context, id string) (map[string]bool, error) {
	var names []string
	for _, s := range signals {
		rt := replayTable(s, id)
		names = append(names, "'"+rt+"'", "'"+rt+"_offsets_mv'")
	}
	rows, err := t.conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? AND name IN ("+strings.Join(names, ", ")+")", t.db)
	if err != nil {
		return nil, &Error{Code: CodeClickHouse, Msg: "cannot read system.tables", Err: err}
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, &Error{Code: CodeClickHouse, Msg: "cannot read system.tables", Err: err}
		}
		out[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, &Error{Code: CodeClickHouse, Msg: "cannot read system.tables", Err: err}
	}
	return out, nil
}

// replicatedEngine matches a Replicated table's engine_full: the engine, its ZooKeeper path (the
// first argument) and the rest (the replica name, the engine's own arguments, PARTITION BY,
// ORDER BY, SETTINGS).
var replicatedEngine = regexp.MustCompile(`(?s)^(Replicated[A-Za-z]*MergeTree)\('([^'\\]*)'(,.*)$`)

// replayEngine returns the engine clause of replay table rt on a cluster: the live table's
// (system.tables.engine_full) with the ZooKeeper path schema.ZooKeeperPath gives rt
// (replayEngineOf).
func (t tables) replayEngine(ctx context.Context, live, rt string) (string, error) {
	var engine string
	if err := t.conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?", t.db, live).Scan(&engine); err != nil {
		return "", &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot read the engine of %s.%s", t.db, live), Err: err}
	}
	return replayEngineOf(engine, t.db, t.cluster, live, rt)
}

// replayEngineOf returns engine, the engine_full of live table db.live as ClickHouse 18.16 and
// current servers show it (the macros unexpanded: ReplicatedReplacingMergeTree('/clickhouse/
// tables/{shard}/db/live', '{replica}'[, args]) PARTITION BY … ORDER BY … SETTINGS …), with the
// ZooKeeper path of replay table rt instead of live's. It refuses an engine that is not
// Replicated at the path schema.MigrateCluster gives live.
func replayEngineOf(engine, db, cluster, live, rt string) (string, error) {
	m := replicatedEngine.FindStringSubmatch(engine)
	want := fmt.Sprintf(schema.ZooKeeperPath, db, live)
	switch {
	case m == nil:
		return "", errorf(CodeClickHouse, "cannot create the replay tables on cluster %q: the live table %s.%s is not Replicated (engine %s): "+
			"was the database migrated on that cluster (`ingest migrate --clickhouse-cluster %s`)? On one server leave clickhouse.cluster empty",
			cluster, db, live, firstWord(engine), cluster)
	case m[2] != want:
		return "", errorf(CodeClickHouse, "cannot create the replay tables on cluster %q: the live table %s.%s is Replicated at %q, not at %q where the schema puts it",
			cluster, db, live, m[2], want)
	}
	return m[1] + "('" + fmt.Sprintf(schema.ZooKeeperPath, db, rt) + "'" + m[3], nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, "( "); i >= 0 {
		return s[:i]
	}
	return s
}

// drop drops job id's tables and views (on every replica of a cluster), and deletes their
// ledger entries (a mutation, which a Replicated table replicates).
func (t tables) drop(ctx context.Context, id string) error {
	var names []string
	for _, s := range signals {
		rt := replayTable(s, id)
		names = append(names, "'"+rt+"'")
		for _, name := range []string{rt + "_offsets_mv", rt} {
			if err := t.conn.Exec(ctx, "DROP TABLE IF EXISTS "+t.q(name)+t.onCluster()); err != nil {
				return &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot drop %s.%s", t.db, name), Err: err}
			}
		}
	}
	if err := t.conn.Exec(ctx, "ALTER TABLE "+t.q("loader_offsets")+" DELETE WHERE table_name IN ("+strings.Join(names, ", ")+")"); err != nil {
		return &Error{Code: CodeClickHouse, Msg: "cannot delete the replay's entries of the offsets ledger", Err: err}
	}
	return nil
}

// replicaWait bounds how long a diff, promote or run start waits for the replica to hold what
// the other replicas committed (ready) before it answers not_ready or retries.
const replicaWait = 10 * time.Second

// ready returns nil on one server; on a cluster, once the replica conn reaches holds every part
// of the named tables (and the offsets ledger) that the replicas had committed, with no mutation
// of them in progress (chreplica.Behind), waiting up to replicaWait; else a not_ready error that
// says what it lacks. Reads that follow are then of the same data on any replica.
func (t tables) ready(ctx context.Context, names ...string) error {
	if t.cluster == "" {
		return nil
	}
	names = append(names, "loader_offsets")
	behind, err := chreplica.Wait(ctx, t.conn, t.db, names, replicaWait, 50*time.Millisecond)
	switch {
	case err != nil && ctx.Err() != nil:
		return &Error{Code: CodeTimeout, Msg: "the ClickHouse replica did not catch up in time", Err: err}
	case err != nil:
		return &Error{Code: CodeClickHouse, Msg: fmt.Sprintf("cannot check the ClickHouse replica (cluster %q)", t.cluster), Err: err}
	case behind != "":
		return errorf(CodeNotReady, "the ClickHouse replica the control plane reaches lacks what other replicas of cluster %q committed (%s) after %v: "+
			"try again in a moment; while the replica that holds those parts is down, it waits for it", t.cluster, behind, replicaWait)
	}
	return nil
}

// waitMutations waits for the mutations submitted on tables since before (a List of
// system.mutations) to finish on the replica conn reaches (chmutation.Wait; on a cluster
// chreplica.WaitMutations, which first waits for the replica to list them).
func (t tables) waitMutations(ctx context.Context, before chmutation.Known, names []string, poll time.Duration) ([]string, error) {
	if t.cluster == "" {
		return chmutation.Wait(ctx, t.conn, t.db, before, names, poll)
	}
	return chreplica.WaitMutations(ctx, t.conn, t.db, before, names, poll)
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
