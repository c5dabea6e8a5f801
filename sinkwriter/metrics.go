package sinkwriter

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the write path's Prometheus metrics. Label values are bounded: code by the
// statuses the writer answers, reason by the Reason constants, tenant by the tenants the edge
// admits (every batch's tenant id is validated first).
type metrics struct {
	batches         *prometheus.CounterVec // code
	recordsProduced *prometheus.CounterVec // tenant
	shed            *prometheus.CounterVec // tenant, reason
	bufferBytes     prometheus.GaugeFunc
	produceSeconds  prometheus.Histogram
	authFailures    *prometheus.CounterVec // cause (hopauth.Cause), never the claimed tenant
	unknownTenant   prometheus.Counter     // no tenant label: unknown tenants are unbounded
}

func newMetrics(reg prometheus.Registerer, bufferBytes func() float64) (*metrics, error) {
	m := &metrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_sinkwriter_batches_total",
			Help: "Batches answered, by HTTP status code (200 every record acknowledged by Kafka, 429 full, 503 Kafka unavailable, 4xx invalid).",
		}, []string{"code"}),
		recordsProduced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_sinkwriter_records_produced_total",
			Help: "Records acknowledged by Kafka (acks=all), by tenant.",
		}, []string{"tenant"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_sinkwriter_shed_total",
			Help: "Batches refused with 429 or 503, by tenant and reason id.",
		}, []string{"tenant", "reason"}),
		bufferBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ingest_sinkwriter_buffer_bytes",
			Help: "Batch bytes held by batches in progress, from request body to the last ack (bounded by max_buffer_bytes).",
		}, bufferBytes),
		produceSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ingest_sinkwriter_produce_duration_seconds",
			Help:    "Time from handing a batch's records to the Kafka client to the last ack (or the failure), per batch.",
			Buckets: prometheus.ExponentialBuckets(0.5e-3, 2, 16),
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_sinkwriter_internal_auth_failures_total",
			Help: "Batches refused with 401 err-ingest-internal-auth, by cause (missing, malformed, unknown_key, bad_signature, expired).",
		}, []string{"cause"}),
		unknownTenant: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingest_sinkwriter_unknown_tenant_batches_total",
			Help: "Batches refused with 403 err-ingest-unknown-tenant: their tenant is not in the control plane's registry.",
		}),
	}
	for _, c := range []prometheus.Collector{m.batches, m.recordsProduced, m.shed, m.bufferBytes, m.produceSeconds, m.authFailures, m.unknownTenant} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
