package e2e

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/chtest"
)

// chCost is ClickHouse's CPU over the load split by cause (BENCHMARKS.md, "Whole pipeline"):
//
//   - inserts: the loader's INSERTs into logs, metrics and spans (and their _shadow twins),
//     with the materialized views each fires in the same thread (the offsets ledger, the
//     roll-up windows): ClickHouse 18.16 does not account a view apart from its INSERT;
//   - rollups: the roll-up worker's recomputes (INSERT … SELECT into metrics_1m/10m/60m) and
//     its reads of metrics_windows and rollup_state;
//   - queries: every other query (the loader's ledger reads, the benchmark's counts, loadgen's
//     marker probe);
//   - merges: the CPU of the server's background pool threads (BackgrProcPool: merges, and the
//     cleanup of merged parts);
//   - other: the rest of the process's CPU (system log flushes, connections, housekeeping).
//
// Queries come from system.query_log (UserTimeMicroseconds + SystemTimeMicroseconds of each
// finished query), merges from /proc/<pid>/task/*/stat, the total from /proc/<pid>/stat.
type chCost struct {
	InsertsSec float64 `json:"inserts_s"`
	RollupsSec float64 `json:"rollups_s"`
	QueriesSec float64 `json:"queries_s"`
	MergesSec  float64 `json:"merges_s"`
	OtherSec   float64 `json:"other_s"`
	TotalSec   float64 `json:"total_s"`
	// Inserts is the number of the loader's INSERTs; InsertedRows and MergedRows are deltas of
	// system.events over the load (every table, views' targets included): how often a row
	// was rewritten by merges.
	Inserts       uint64  `json:"inserts"`
	InsertedRows  uint64  `json:"inserted_rows"`
	MergedRows    uint64  `json:"merged_rows"`
	MergesWallSec float64 `json:"merges_wall_s"` // MergesTimeMilliseconds: the merges' own clock
	// TopQueries are the costliest of the other queries, by their first 80 characters.
	TopQueries []chQueryCost `json:"top_other_queries"`
}

// chQueryCost is the CPU of the queries that start alike.
type chQueryCost struct {
	Query  string  `json:"query"`
	Count  int     `json:"count"`
	CPUSec float64 `json:"cpu_s"`
}

// chSnapshot is what chCost is computed from at one moment.
type chSnapshot struct {
	at     time.Time
	total  time.Duration
	merges time.Duration
	events map[string]uint64
}

// dataInsert matches the loader's INSERTs into the data tables; rollupQuery the roll-up
// worker's statements.
var (
	dataInsert  = regexp.MustCompile("(?i)^\\s*INSERT INTO `?ingest`?\\.`?(logs|metrics|spans)(_shadow)?`?[\\s(]")
	rollupQuery = regexp.MustCompile(`(?i)metrics_(1m|10m|60m|windows)|rollup_state`)
)

// snapshotCH reads ClickHouse's process and merge-thread CPU and system.events.
func snapshotCH(t *testing.T, ch *chtest.Server) chSnapshot {
	t.Helper()
	s := chSnapshot{at: time.Now(), events: map[string]uint64{}}
	var err error
	if s.total, err = procCPU(ch.PID()); err != nil {
		t.Fatalf("cannot read ClickHouse's CPU time: %v", err)
	}
	if s.merges, err = threadsCPU(ch.PID(), "BackgrProcPool"); err != nil {
		t.Fatalf("cannot read the CPU time of ClickHouse's merge threads: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := ch.Conn().Query(ctx, "SELECT event, value FROM system.events WHERE event IN ('InsertedRows', 'MergedRows', 'MergesTimeMilliseconds')")
	if err != nil {
		t.Fatalf("cannot read system.events: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v uint64
		if err := rows.Scan(&name, &v); err != nil {
			t.Fatalf("cannot read system.events: %v", err)
		}
		s.events[name] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("cannot read system.events: %v", err)
	}
	return s
}

// chCostBetween splits ClickHouse's CPU between two snapshots. The server must log queries
// (chserver.Config.QueryLog).
func chCostBetween(t *testing.T, ch *chtest.Server, from, to chSnapshot) chCost {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ch.Conn().Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatalf("cannot flush ClickHouse's query log: %v", err)
	}
	// type 2 is QueryFinish; event_time has a resolution of a second, so the window is
	// widened to whole seconds: a query of the second before the load counts, which is noise
	// well under the figures' precision.
	rows, err := ch.Conn().Query(ctx, "SELECT query, "+
		"ProfileEvents.Values[indexOf(ProfileEvents.Names, 'UserTimeMicroseconds')] + "+
		"ProfileEvents.Values[indexOf(ProfileEvents.Names, 'SystemTimeMicroseconds')] "+
		"FROM system.query_log WHERE type = 2 AND event_time >= toDateTime(?) AND event_time <= toDateTime(?) "+
		"AND query NOT LIKE '%system.query_log%'", from.at.Unix(), to.at.Unix()+1)
	if err != nil {
		t.Fatalf("cannot read system.query_log: %v", err)
	}
	defer rows.Close()
	var c chCost
	other := map[string]*chQueryCost{}
	for rows.Next() {
		var q string
		var us uint64
		if err := rows.Scan(&q, &us); err != nil {
			t.Fatalf("cannot read system.query_log: %v", err)
		}
		sec := float64(us) / 1e6
		switch {
		case dataInsert.MatchString(q):
			c.InsertsSec += sec
			c.Inserts++
		case rollupQuery.MatchString(q):
			c.RollupsSec += sec
		default:
			c.QueriesSec += sec
			key := strings.Join(strings.Fields(q), " ")
			if len(key) > 80 {
				key = key[:80]
			}
			qc := other[key]
			if qc == nil {
				qc = &chQueryCost{Query: key}
				other[key] = qc
			}
			qc.Count++
			qc.CPUSec += sec
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("cannot read system.query_log: %v", err)
	}
	for _, qc := range other {
		c.TopQueries = append(c.TopQueries, *qc)
	}
	slices.SortFunc(c.TopQueries, func(a, b chQueryCost) int { return cmp.Compare(b.CPUSec, a.CPUSec) })
	c.TopQueries = c.TopQueries[:min(len(c.TopQueries), 3)]
	c.TotalSec = (to.total - from.total).Seconds()
	c.MergesSec = (to.merges - from.merges).Seconds()
	c.OtherSec = max(0, c.TotalSec-c.InsertsSec-c.RollupsSec-c.QueriesSec-c.MergesSec)
	c.InsertedRows = to.events["InsertedRows"] - from.events["InsertedRows"]
	c.MergedRows = to.events["MergedRows"] - from.events["MergedRows"]
	c.MergesWallSec = float64(to.events["MergesTimeMilliseconds"]-from.events["MergesTimeMilliseconds"]) / 1000
	return c
}

// table renders c per million landed events.
func (c chCost) table(landed uint64) string {
	pm := func(s float64) float64 { return s / float64(landed) * 1e6 }
	var b strings.Builder
	fmt.Fprintf(&b, "clickhouse CPU s / M events by cause: inserts (with their views) %.2f, merges %.2f, roll-ups %.2f, other queries %.2f, other %.2f; total %.2f\n",
		pm(c.InsertsSec), pm(c.MergesSec), pm(c.RollupsSec), pm(c.QueriesSec), pm(c.OtherSec), pm(c.TotalSec))
	fmt.Fprintf(&b, "clickhouse work: %d loader INSERTs (%.0f rows each on average), %d rows inserted (views included), merges rewrote %d rows (%.2f per inserted row) in %.1f s of their own clock\n",
		c.Inserts, float64(landed)/float64(max(c.Inserts, 1)), c.InsertedRows, c.MergedRows, float64(c.MergedRows)/float64(max(c.InsertedRows, 1)), c.MergesWallSec)
	for _, q := range c.TopQueries {
		fmt.Fprintf(&b, "  other query: %.2f CPU s / M events, %d× %q\n", pm(q.CPUSec), q.Count, q.Query)
	}
	return b.String()
}

// threadsCPU sums the user plus system CPU time of pid's threads whose name starts with
// prefix, from /proc/<pid>/task/<tid>/stat.
func threadsCPU(pid int, prefix string) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, task := range tasks {
		path := filepath.Join(dir, task.Name(), "stat")
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the thread exited meanwhile
		}
		name, cpu, err := parseStat(path, b)
		if err != nil {
			return 0, err
		}
		if strings.HasPrefix(name, prefix) {
			sum += cpu
		}
	}
	return sum, nil
}

// TestStatParsingReadsCommandAndCPU: a command with spaces and parentheses, and this process's
// own threads summing to at most its total.
func TestStatParsingReadsCommandAndCPU(t *testing.T) {
	name, cpu, err := parseStat("x", []byte("42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0"))
	if err != nil || name != "a (b) c" || cpu != 3*time.Second {
		t.Errorf("parseStat = %q, %v, %v; want \"a (b) c\", 3s", name, cpu, err)
	}
	if _, _, err := parseStat("x", []byte("42 (short) S 1")); err == nil {
		t.Error("a short line parsed")
	}
	for range 2_000_000 { // burn a little CPU so that the totals are not 0
		_ = time.Now()
	}
	total, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	threads, err := threadsCPU(os.Getpid(), "")
	if err != nil || threads > total+10*time.Millisecond {
		t.Errorf("threads %v (err %v), process %v", threads, err, total)
	}
}
