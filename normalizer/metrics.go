package normalizer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/metricdef"
)

// metrics are the normalizer's Prometheus metrics. Label values are bounded: endpoint and signal
// by the code, reason by the Reason constants, tenant by the tenants the edge admits.
type metrics struct {
	requests        *prometheus.CounterVec   // endpoint, code
	eventsAccepted  *prometheus.CounterVec   // tenant, signal
	eventsRejected  *prometheus.CounterVec   // tenant, signal, reason
	requestBytes    *prometheus.CounterVec   // tenant, stage (raw, decompressed)
	unknownUnits    *prometheus.CounterVec   // tenant
	countMismatches *prometheus.CounterVec   // tenant
	shed            *prometheus.CounterVec   // tenant, reason
	decodeSeconds   *prometheus.HistogramVec // endpoint, format
	sinkSeconds     prometheus.Histogram
	inflightBytes   prometheus.GaugeFunc
	authFailures    *prometheus.CounterVec // cause (hopauth.Cause), never the claimed tenant
}

func newMetrics(reg prometheus.Registerer, inflight func() float64) (*metrics, error) {
	m := &metrics{
		requests: metricdef.CounterVec("ingest_normalizer_requests_total",
			"Requests by endpoint and HTTP status code.", "endpoint", "code"),
		eventsAccepted: metricdef.CounterVec("ingest_normalizer_events_accepted_total",
			"Events written to the sink, by tenant and signal (log, metric, span).", "tenant", "signal"),
		eventsRejected: metricdef.CounterVec("ingest_normalizer_events_rejected_total",
			"Events rejected, by tenant, signal (log, metric, span; event for NDJSON) and reason id.", "tenant", "signal", "reason"),
		requestBytes: metricdef.CounterVec("ingest_normalizer_request_bytes_total",
			"Request body bytes by tenant, as received (raw) and after decompression (decompressed).", "tenant", "stage"),
		unknownUnits: metricdef.CounterVec("ingest_normalizer_unknown_unit_events_total",
			"Events whose unit is not in the conversion table; their values pass through unchanged.", "tenant"),
		countMismatches: metricdef.CounterVec("ingest_normalizer_edge_count_mismatch_total",
			"Requests whose event count differs from the count the edge accounted (x-ingest-event-count).", "tenant"),
		shed: metricdef.CounterVec("ingest_normalizer_shed_total",
			"Requests refused with 429 or 503 (in-flight bound or tenant share full, sink full or unavailable), by tenant and reason id.", "tenant", "reason"),
		decodeSeconds: metricdef.HistogramVec("ingest_normalizer_decode_duration_seconds",
			"Time to decompress, decode, validate, convert and encode one request.",
			prometheus.ExponentialBuckets(50e-6, 2.5, 12), "endpoint", "format"),
		sinkSeconds: metricdef.Histogram("ingest_normalizer_sink_write_duration_seconds",
			"Time for the sink to make one request's batch durable.",
			prometheus.ExponentialBuckets(1e-3, 2, 14)),
		inflightBytes: metricdef.GaugeFunc("ingest_normalizer_inflight_bytes",
			"Request bytes held in memory by requests in progress (bounded by max_inflight_bytes).", inflight),
		authFailures: metricdef.CounterVec("ingest_normalizer_internal_auth_failures_total",
			"Requests refused with 401 err-ingest-internal-auth, by cause (missing, malformed, unknown_key, bad_signature, expired).", "cause"),
	}
	if err := metricdef.Register(reg, m.requests, m.eventsAccepted, m.eventsRejected, m.requestBytes,
		m.unknownUnits, m.countMismatches, m.shed, m.decodeSeconds, m.sinkSeconds, m.inflightBytes, m.authFailures); err != nil {
		return nil, err
	}
	return m, nil
}
