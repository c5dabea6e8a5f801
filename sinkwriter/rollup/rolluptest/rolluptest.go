// Package rolluptest checks the metric roll-ups in tests: it drives a roll-up worker until
// every closed window is recomputed, and compares every roll-up table with a fresh aggregation
// of the deduplicated data (metrics FINAL).
package rolluptest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/sinkwriter/rollup"
)

// Settle runs cycles of a new roll-up worker on database (Delay 1 ns, so every minute that
// ended is closed) until a cycle succeeds with no dirty window left, failing t after timeout.
// Every metric of the data must lie in a minute that has ended. It returns the worker.
func Settle(t testing.TB, conn driver.Conn, database string, timeout time.Duration) *rollup.Worker {
	t.Helper()
	w, err := rollup.New(conn, rollup.Config{Database: database, Delay: time.Nanosecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	SettleWith(t, w, timeout)
	return w
}

// SettleWith runs cycles of w until one succeeds with no dirty window left (and, on a cluster,
// did not stop early for its replica: Worker.Behind), failing t after timeout.
func SettleWith(t testing.TB, w *rollup.Worker, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err = w.Cycle(ctx)
		cancel()
		if err == nil && w.Pending() == 0 && !w.Behind() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the roll-ups did not settle within %v: last cycle %v, %d windows pending", timeout, err, w.Pending())
}

// Agg is one roll-up row: the aggregates of one series in one window.
type Agg struct {
	Points    uint64
	Sum       float64
	Min, Max  float64
	Last      float64
	LastNano  int64
	DistCount uint64
	DistSum   float64
}

// Key names a series' window: name, series id, window start (unix seconds).
type Key struct {
	Name   string
	Series uint64
	Window int64
}

func (k Key) String() string {
	return fmt.Sprintf("%s/%d@%s", k.Name, k.Series, time.Unix(k.Window, 0).UTC().Format(time.DateTime))
}

// Levels are the roll-up tables and their window sizes in seconds.
var Levels = []struct {
	Table string
	Size  int64
}{{"metrics_1m", 60}, {"metrics_10m", 600}, {"metrics_60m", 3600}}

// Rollup reads tenant's rows of a roll-up table (table, with the set's suffix) through the
// documented query path: FINAL, points > 0.
func Rollup(ctx context.Context, conn driver.Conn, database, table, tenant string) (map[Key]Agg, error) {
	return read(ctx, conn, "SELECT name, series_id, toInt64(toUInt32(window_start)), points, value_sum, value_min, value_max, value_last, last_time_unix_nano, dist_count, dist_sum FROM `"+
		database+"`."+table+" FINAL WHERE tenant = ? AND points > 0", tenant)
}

// Fresh aggregates tenant's rows of the metrics table of set (metrics+set) FINAL into windows
// of size seconds: what every roll-up must equal.
func Fresh(ctx context.Context, conn driver.Conn, database, set, tenant string, size int64) (map[Key]Agg, error) {
	return read(ctx, conn, fmt.Sprintf("SELECT name, series_id, toInt64(intDiv(toUInt32(time), %d) * %d) AS w, count(), sum(value), min(value), max(value), argMax(value, time_unix_nano), max(time_unix_nano), sum(dist_count), sum(dist_sum) FROM `%s`.metrics%s FINAL WHERE tenant = ? GROUP BY name, series_id, w",
		size, size, database, set), tenant)
}

func read(ctx context.Context, conn driver.Conn, query, tenant string) (map[Key]Agg, error) {
	rows, err := conn.Query(ctx, query, tenant)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[Key]Agg{}
	for rows.Next() {
		var (
			k Key
			a Agg
		)
		if err := rows.Scan(&k.Name, &k.Series, &k.Window, &a.Points, &a.Sum, &a.Min, &a.Max, &a.Last, &a.LastNano, &a.DistCount, &a.DistSum); err != nil {
			return nil, err
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("two rows for %v", k)
		}
		out[k] = a
	}
	return out, rows.Err()
}

// Diff compares got with want: every key, every aggregate (sums within a relative 1e-9, since
// a 10m or 60m sum adds the 1m sums in another order). It returns one error per difference.
func Diff(got, want map[Key]Agg) error {
	var errs []error
	keys := make([]Key, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		w := want[k]
		g, ok := got[k]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%v: missing, want %+v", k, w))
		case g.Points != w.Points || !near(g.Sum, w.Sum) || g.Min != w.Min || g.Max != w.Max || g.Last != w.Last ||
			g.LastNano != w.LastNano || g.DistCount != w.DistCount || !near(g.DistSum, w.DistSum):
			errs = append(errs, fmt.Errorf("%v: got %+v, want %+v", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			errs = append(errs, fmt.Errorf("%v: unexpected %+v", k, g))
		}
	}
	return errors.Join(errs...)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// AssertExact fails t unless every roll-up table of set (metrics_1m+set, …) equals, through the
// documented query path, a fresh aggregation of metrics+set FINAL, for each of tenants. It
// returns the total points of the 1m roll-up.
func AssertExact(t testing.TB, conn driver.Conn, database, set string, tenants ...string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var points uint64
	for _, tenant := range tenants {
		for _, l := range Levels {
			got, err := Rollup(ctx, conn, database, l.Table+set, tenant)
			if err != nil {
				t.Fatalf("cannot read %s%s: %v", l.Table, set, err)
			}
			want, err := Fresh(ctx, conn, database, set, tenant, l.Size)
			if err != nil {
				t.Fatalf("cannot aggregate metrics%s FINAL: %v", set, err)
			}
			if err := Diff(got, want); err != nil {
				t.Errorf("%s%s of tenant %s differs from metrics%s FINAL:\n%v", l.Table, set, tenant, set, err)
			}
			if l.Size == 60 {
				for _, a := range got {
					points += a.Points
				}
			}
		}
	}
	return points
}
