package loader

import (
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

// metrics are the loader's Prometheus metrics. Label values are bounded: table is one of three,
// reason and trigger are the constants above.
type metrics struct {
	rowsInserted   *prometheus.CounterVec   // table
	recordsSkipped *prometheus.CounterVec   // table
	deadLetters    *prometheus.CounterVec   // reason
	insertDuration *prometheus.HistogramVec // table
	// vis is send → visible per row, by table and by tenant.
	vis *visibilityCollector
	// visibilityObjective is the objective the histograms serve: p95 ≤ VisibilityObjective.
	visibilityObjective *prometheus.GaugeVec
	insertRetries       *prometheus.CounterVec // table
	flushes             *prometheus.CounterVec // trigger
	discarded           prometheus.Counter
	commitErrors        prometheus.Counter
	lag                 prometheus.Gauge
	topicLag            *prometheus.GaugeVec // topic
	topicLagSeconds     *prometheus.GaugeVec // topic
	bufferedBytes       prometheus.Gauge
	flushInterval       prometheus.Gauge
	// topicConflicts is 1 per topic held for an incarnation conflict, by topic (bounded by the
	// tenant topics; a label is deleted when its topic is released).
	topicConflicts *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		vis: newVisibilityCollector(),
		rowsInserted: metricdef.CounterVec("ingest_loader_rows_inserted_total",
			"Rows inserted into ClickHouse and acknowledged, by table.", "table"),
		recordsSkipped: metricdef.CounterVec("ingest_loader_records_skipped_total",
			"Records read again after a restart or rebalance that the offsets ledger shows the table already holds, by table.", "table"),
		deadLetters: metricdef.CounterVec("ingest_loader_deadletter_total",
			"Records written to the dead-letter topic, by reason.", "reason"),
		insertDuration: metricdef.HistogramVec("ingest_loader_insert_duration_seconds",
			"Duration of successful INSERTs, from prepare to acknowledgement, by table.",
			prometheus.ExponentialBuckets(0.005, 2, 14), "table"), // 5 ms .. 41 s
		visibilityObjective: metricdef.GaugeVec("ingest_loader_visibility_objective_seconds",
			"The objective the visibility histograms serve: the quantile of rows (label) visible within this many seconds.", "quantile"),
		insertRetries: metricdef.CounterVec("ingest_loader_insert_retries_total",
			"INSERT attempts that failed with a transient error and were retried, by table.", "table"),
		flushes: metricdef.CounterVec("ingest_loader_flushes_total",
			"Flushes of the buffers, by what triggered them (rows, bytes, interval, shutdown).", "trigger"),
		topicLag: metricdef.GaugeVec("ingest_loader_topic_lag_records",
			"Records not yet processed in the assigned partitions of a tenant topic.", "topic"),
		topicLagSeconds: metricdef.GaugeVec("ingest_loader_topic_lag_seconds",
			"How far behind the loader reads a tenant topic: now minus the Kafka time of the last record processed in its most lagging partition; 0 when caught up.", "topic"),
		flushInterval: metricdef.Gauge("ingest_loader_flush_interval_seconds",
			"The current flush interval: adapted between flush_interval_min and flush_interval to keep rows visible within the objective."),
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
	if err := metricdef.Register(reg, m.rowsInserted, m.recordsSkipped, m.deadLetters, m.insertDuration,
		m.vis, m.visibilityObjective,
		m.insertRetries, m.flushes, m.discarded, m.commitErrors, m.lag, m.topicLag, m.topicLagSeconds, m.bufferedBytes, m.flushInterval, m.topicConflicts); err != nil {
		return nil, err
	}
	for t := range numTables {
		m.rowsInserted.WithLabelValues(t.String())
		m.recordsSkipped.WithLabelValues(t.String())
		m.insertRetries.WithLabelValues(t.String())
	}
	m.visibilityObjective.WithLabelValues("0.95").Set(VisibilityObjective.Seconds())
	for _, r := range []string{ReasonRecordCorrupt, ReasonInsertRejected} {
		m.deadLetters.WithLabelValues(r)
	}
	return m, nil
}
