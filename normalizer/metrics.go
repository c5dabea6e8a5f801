package normalizer

import (
	"github.com/prometheus/client_golang/prometheus"
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
	decodeSeconds   *prometheus.HistogramVec // endpoint, format
	sinkSeconds     prometheus.Histogram
	inflightBytes   prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, inflight func() float64) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_normalizer_requests_total",
			Help: "Requests by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
		eventsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_normalizer_events_accepted_total",
			Help: "Events written to the sink, by tenant and signal (log, metric, span).",
		}, []string{"tenant", "signal"}),
		eventsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_normalizer_events_rejected_total",
			Help: "Events rejected, by tenant, signal (log, metric, span; event for NDJSON) and reason id.",
		}, []string{"tenant", "signal", "reason"}),
		requestBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_normalizer_request_bytes_total",
			Help: "Request body bytes by tenant, as received (raw) and after decompression (decompressed).",
		}, []string{"tenant", "stage"}),
		unknownUnits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_normalizer_unknown_unit_events_total",
			Help: "Events whose unit is not in the conversion table; their values pass through unchanged.",
		}, []string{"tenant"}),
		countMismatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_normalizer_edge_count_mismatch_total",
			Help: "Requests whose event count differs from the count the edge accounted (x-ingest-event-count).",
		}, []string{"tenant"}),
		decodeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ingest_normalizer_decode_duration_seconds",
			Help:    "Time to decompress, decode, validate, convert and encode one request.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 12),
		}, []string{"endpoint", "format"}),
		sinkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ingest_normalizer_sink_write_duration_seconds",
			Help:    "Time for the sink to make one request's batch durable.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 2, 14),
		}),
		inflightBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ingest_normalizer_inflight_bytes",
			Help: "Request bytes held in memory by requests in progress (bounded by max_inflight_bytes).",
		}, inflight),
	}
	for _, c := range []prometheus.Collector{m.requests, m.eventsAccepted, m.eventsRejected, m.requestBytes,
		m.unknownUnits, m.countMismatches, m.decodeSeconds, m.sinkSeconds, m.inflightBytes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
