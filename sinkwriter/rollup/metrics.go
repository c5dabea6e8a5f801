package rollup

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/metricdef"
)

// Operations: the op label of ingest_rollup_errors_total.
const (
	opSchema    = "schema"    // reading schema_migrations
	opRead      = "read"      // reading markers, the server's clock or the cursors
	opRecompute = "recompute" // an INSERT … SELECT of windows or tombstones
	opCursor    = "cursor"    // persisting a cursor
	opPrune     = "prune"     // dropping old marker partitions
)

// metrics are the worker's Prometheus metrics. Label values are bounded: level is 1m, 10m or
// 60m; op is one of the constants above.
type metrics struct {
	windows       *prometheus.CounterVec   // level
	duration      *prometheus.HistogramVec // level
	errors        *prometheus.CounterVec   // op
	markers       prometheus.Counter
	cycles        prometheus.Counter
	pending       prometheus.Gauge
	lag           prometheus.Gauge
	oldestPending prometheus.Gauge
	pruned        prometheus.Counter
	waits         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		windows: metricdef.CounterVec("ingest_rollup_windows_recomputed_total",
			"Roll-up windows recomputed (per tenant and table set), by level.", "level"),
		duration: metricdef.HistogramVec("ingest_rollup_recompute_duration_seconds",
			"Duration of the recompute of one range of consecutive windows of one tenant (windows and tombstones), by level.",
			prometheus.ExponentialBuckets(0.005, 2, 14), "level"), // 5 ms .. 41 s
		errors: metricdef.CounterVec("ingest_rollup_errors_total",
			"Failed ClickHouse operations of the roll-up worker, by op (schema, read, recompute, cursor, prune); retried next cycle.", "op"),
		markers: metricdef.Counter("ingest_rollup_markers_total",
			"Dirty-window markers read for the first time."),
		cycles: metricdef.Counter("ingest_rollup_cycles_total",
			"Cycles of the roll-up worker that ran to the end (with or without errors)."),
		pending: metricdef.Gauge("ingest_rollup_pending_windows",
			"Dirty 1m windows not recomputed yet: still open (minute end plus delay not reached) or their recompute failed."),
		lag: metricdef.Gauge("ingest_rollup_lag_seconds",
			"How long the oldest dirty 1m window has been due (minute end plus delay) without being recomputed; 0 when none is overdue."),
		oldestPending: metricdef.Gauge("ingest_rollup_oldest_pending_seconds",
			"Age of the earliest marker behind a dirty 1m window (server time); 0 when none is dirty."),
		pruned: metricdef.Counter("ingest_rollup_marker_partitions_dropped_total",
			"Daily partitions of markers dropped after the retention."),
		waits: metricdef.Counter("ingest_rollup_replication_waits_total",
			"Cycles (on a cluster) that stopped early, their windows left dirty, because the worker's replica still lacked parts the other replicas had committed after a second's wait."),
	}
	if err := metricdef.Register(reg, m.windows, m.duration, m.errors, m.markers, m.cycles, m.pending, m.lag, m.oldestPending, m.pruned, m.waits); err != nil {
		return nil, err
	}
	for l := range numLevels {
		m.windows.WithLabelValues(l.String())
	}
	for _, op := range []string{opSchema, opRead, opRecompute, opCursor, opPrune} {
		m.errors.WithLabelValues(op)
	}
	return m, nil
}
