package rollup

import (
	"fmt"
	"strings"
)

// rollupColumns are the columns of every roll-up table, in the order the recompute queries
// select them (INSERT … SELECT maps by position).
const rollupColumns = "tenant, name, series_id, window_start, unit, scope, kind, temporality, monotonic, " +
	"attr_keys, attr_values, resource_keys, resource_values, points, value_sum, value_min, value_max, " +
	"value_last, last_time_unix_nano, dist_count, dist_sum, version"

// seriesColumns are the series' descriptive columns, the same in every row of a series
// (series_id hashes them): any() picks them.
const seriesColumns = "any(unit), any(scope), any(kind), any(temporality), any(monotonic), " +
	"any(attr_keys), any(attr_values), any(resource_keys), any(resource_values)"

func quoteIdent(name string) string { return "`" + name + "`" }

func table(database, name, set string) string { return quoteIdent(database) + "." + name + set }

// recomputeSQL returns the INSERT … SELECT that writes the windows of w, version v, from the
// deduplicated data: a 1m range from metrics{set} FINAL, a 10m or 60m range from the 1m rows
// (FINAL, tombstones left out). The only filters on the FINAL read are the tenant and the
// time range, on sort-key columns, so every version of a row is in the read and FINAL keeps
// the newest. The tenant is the one argument (?), bound by the driver.
func recomputeSQL(database string, w window, v uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s)\n", table(database, levelDefs[w.level].table, w.set), rollupColumns)
	if w.level == level1m {
		fmt.Fprintf(&b, "SELECT tenant, name, series_id, toStartOfMinute(time) AS w, %s,\n", seriesColumns)
		b.WriteString("    count(), sum(value), min(value), max(value), argMax(value, time_unix_nano), max(time_unix_nano), sum(dist_count), sum(dist_sum), ")
		fmt.Fprintf(&b, "toUInt64(%d)\n", v)
		fmt.Fprintf(&b, "FROM %s FINAL\n", table(database, "metrics", w.set))
		fmt.Fprintf(&b, "WHERE tenant = ? AND time >= toDateTime(%d) AND time < toDateTime(%d)\n", w.from, w.to)
	} else {
		fmt.Fprintf(&b, "SELECT tenant, name, series_id, toDateTime(intDiv(toUInt32(window_start), %d) * %d) AS w, %s,\n", levelDefs[w.level].size, levelDefs[w.level].size, seriesColumns)
		b.WriteString("    sum(points), sum(value_sum), min(value_min), max(value_max), argMax(value_last, last_time_unix_nano), max(last_time_unix_nano), sum(dist_count), sum(dist_sum), ")
		fmt.Fprintf(&b, "toUInt64(%d)\n", v)
		fmt.Fprintf(&b, "FROM %s FINAL\n", table(database, levelDefs[level1m].table, w.set))
		fmt.Fprintf(&b, "WHERE tenant = ? AND window_start >= toDateTime(%d) AND window_start < toDateTime(%d) AND points > 0\n", w.from, w.to)
	}
	b.WriteString("GROUP BY tenant, name, series_id, w")
	return b.String()
}

// tombstoneSQL returns the INSERT … SELECT that writes a tombstone (points = 0, version v) for
// every series of w's windows whose newest row is older than v and not a tombstone: a series
// the recompute of version v did not write, so the data no longer has it. It must run after
// recomputeSQL of the same version. The tenant is the one argument (?).
func tombstoneSQL(database string, w window, v uint64) string {
	t := table(database, levelDefs[w.level].table, w.set)
	return fmt.Sprintf("INSERT INTO %s (tenant, name, series_id, window_start, points, version)\n"+
		"SELECT tenant, name, series_id, window_start, toUInt64(0), toUInt64(%d)\n"+
		"FROM %s FINAL\n"+
		"WHERE tenant = ? AND window_start >= toDateTime(%d) AND window_start < toDateTime(%d) AND points > 0 AND version < %d",
		t, v, t, w.from, w.to, v)
}

// markersSQL returns the read of set's markers inserted at or after from (unix seconds).
func markersSQL(database, set string, from int64) string {
	return fmt.Sprintf("SELECT tenant, toUInt32(window_start), kafka_topic, kafka_partition, max_offset, rows, toUInt32(inserted_at)\n"+
		"FROM %s WHERE inserted_at >= toDateTime(%d)", table(database, "metrics_windows", set), max(from, 0))
}
