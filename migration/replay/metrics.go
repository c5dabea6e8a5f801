package replay

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/metricdef"
)

type metrics struct {
	records       *prometheus.CounterVec
	jobs          *prometheus.CounterVec
	insertSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		records: metricdef.CounterVec("ingest_replay_records_total",
			"Records replay runs processed, by outcome: inserted, skipped (the replay table held it already), corrupt.", "outcome"),
		jobs: metricdef.CounterVec("ingest_replay_runs_total",
			"Replay runs that ended, by the state they ended in (running: stopped by a shutdown, resumed at the next start).", "state"),
		insertSeconds: metricdef.Histogram("ingest_replay_insert_duration_seconds",
			"Duration of a replay run's INSERTs into its own tables.", prometheus.DefBuckets),
	}
	return m, metricdef.Register(reg, m.records, m.jobs, m.insertSeconds)
}
