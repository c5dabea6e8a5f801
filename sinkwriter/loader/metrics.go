package loader

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/metricdef"
)

// Dead-letter reasons: the reason header of a dead-lettered record and the reason label of
// ingest_loader_deadletter_total.
const (
	// ReasonRecordCorrupt: the Kafka record's value is not a normalized record this loader
	// reads (record.Decode failed; the error header says why). Fix the producer; replay the
	// dead letter once a loader can read it.
	ReasonRecordCorrupt = "err-loader-record-corrupt"
	// ReasonInsertRejected: ClickHouse refused the row for a data reason (the error header
	// carries ClickHouse's exception), isolated by bisecting the batch.
	ReasonInsertRejected = "err-loader-insert-rejected"
)

// Flush triggers: the trigger label of ingest_loader_flushes_total.
const (
	triggerRows     = "rows"
	triggerBytes    = "bytes"
	triggerInterval = "interval"
	triggerShutdown = "shutdown"
)

// VisibilityObjective is the send → visible objective the loader's histograms are read
// against: 95% of rows visible within it (exported as
// ingest_loader_visibility_objective_seconds{quantile="0.95"}).
const VisibilityObjective = time.Second

// Bounds of the per-tenant visibility histogram's cardinality.
const (
	maxVisibilityTenants = 100
	otherTenant          = "_other"
)

// visibilityBuckets are the bounds of ingest_loader_visibility_seconds: fine around the 1 s and
// 3 s objectives (BENCHMARKS.md, docs/sinkwriter.md), coarse beyond.
var visibilityBuckets = []float64{.05, .1, .25, .5, .75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300}

// metrics are the loader's Prometheus metrics. Label values are bounded: table is one of three,
// reason and trigger are the constants above.
type metrics struct {
	rowsInserted   *prometheus.CounterVec   // table
	recordsSkipped *prometheus.CounterVec   // table
	deadLetters    *prometheus.CounterVec   // reason
	insertDuration *prometheus.HistogramVec // table
	// visibility is, per row, the time from its receipt (the normalizer's received_at) to
	// ClickHouse's acknowledgement of the INSERT that holds it, by table.
	visibility *prometheus.HistogramVec
	// tenantVisibility is the same per tenant, for the first maxVisibilityTenants tenants seen;
	// the rows of any later tenant count under otherTenant.
	tenantVisibility *prometheus.HistogramVec
	// visibilityObjective is the objective the histograms serve: p95 ≤ VisibilityObjective.
	visibilityObjective *prometheus.GaugeVec
	insertRetries       *prometheus.CounterVec // table
	flushes             *prometheus.CounterVec // trigger
	discarded           prometheus.Counter
	commitErrors        prometheus.Counter
	lag                 prometheus.Gauge
	bufferedBytes       prometheus.Gauge
	// topicConflicts is 1 per topic held for an incarnation conflict, by topic (bounded by the
	// tenant topics; a label is deleted when its topic is released).
	topicConflicts *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rowsInserted: metricdef.CounterVec("ingest_loader_rows_inserted_total",
			"Rows inserted into ClickHouse and acknowledged, by table.", "table"),
		recordsSkipped: metricdef.CounterVec("ingest_loader_records_skipped_total",
			"Records read again after a restart or rebalance that the offsets ledger shows the table already holds, by table.", "table"),
		deadLetters: metricdef.CounterVec("ingest_loader_deadletter_total",
			"Records written to the dead-letter topic, by reason.", "reason"),
		insertDuration: metricdef.HistogramVec("ingest_loader_insert_duration_seconds",
			"Duration of successful INSERTs, from prepare to acknowledgement, by table.",
			prometheus.ExponentialBuckets(0.005, 2, 14), "table"), // 5 ms .. 41 s
		visibility: metricdef.HistogramVec("ingest_loader_visibility_seconds",
			"Per row inserted, the time from its receipt by the normalizer (received_at) to ClickHouse's acknowledgement of its INSERT: send to visible, as the running system sees it (minus the client's own wait for the normalizer), by table.",
			visibilityBuckets, "table"),
		tenantVisibility: metricdef.HistogramVec("ingest_loader_tenant_visibility_seconds",
			"ingest_loader_visibility_seconds by tenant (every table): one series per tenant for the first 100 tenants the loader sees, the rows of later ones under tenant=\"_other\".",
			visibilityBuckets, "tenant"),
		visibilityObjective: metricdef.GaugeVec("ingest_loader_visibility_objective_seconds",
			"The objective the visibility histograms serve: the quantile of rows (label) visible within this many seconds.", "quantile"),
		insertRetries: metricdef.CounterVec("ingest_loader_insert_retries_total",
			"INSERT attempts that failed with a transient error and were retried, by table.", "table"),
		flushes: metricdef.CounterVec("ingest_loader_flushes_total",
			"Flushes of the buffers, by what triggered them (rows, bytes, interval, shutdown).", "trigger"),
		discarded: metricdef.Counter("ingest_loader_records_discarded_total",
			"Buffered records dropped, not lost, at a rebalance: the partition's next owner reads them again from the committed offset."),
		commitErrors: metricdef.Counter("ingest_loader_commit_errors_total",
			"Kafka offset commits that failed (harmless for correctness: the offsets ledger decides what is loaded)."),
		lag: metricdef.Gauge("ingest_loader_lag_records",
			"Records in the assigned partitions not yet processed (high watermark minus next offset), as of the last fetch."),
		bufferedBytes: metricdef.Gauge("ingest_loader_buffered_bytes",
			"Encoded record bytes buffered for the next flush."),
		topicConflicts: metricdef.GaugeVec("ingest_loader_topic_incarnation_conflicts",
			"1 per topic held because it was recreated (or the brokers wiped) since the tables were loaded from it: its records are not loaded until accept_recreated_topics names it, by topic.", "topic"),
	}
	if err := metricdef.Register(reg, m.rowsInserted, m.recordsSkipped, m.deadLetters, m.insertDuration, m.visibility,
		m.tenantVisibility, m.visibilityObjective,
		m.insertRetries, m.flushes, m.discarded, m.commitErrors, m.lag, m.bufferedBytes, m.topicConflicts); err != nil {
		return nil, err
	}
	for t := range numTables {
		m.rowsInserted.WithLabelValues(t.String())
		m.recordsSkipped.WithLabelValues(t.String())
		m.insertRetries.WithLabelValues(t.String())
		m.visibility.WithLabelValues(t.String())
	}
	m.visibilityObjective.WithLabelValues("0.95").Set(VisibilityObjective.Seconds())
	for _, r := range []string{ReasonRecordCorrupt, ReasonInsertRejected} {
		m.deadLetters.WithLabelValues(r)
	}
	return m, nil
}
