package xds

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the xDS server. Label values are bounded: type_url is one of the five served
// type URLs or "other".
type metrics struct {
	nacks       *prometheus.CounterVec
	fallbacks   *prometheus.CounterVec
	builds      *prometheus.CounterVec
	version     prometheus.Gauge
	nodes       prometheus.Gauge
	certReloads *prometheus.CounterVec
	certExpiry  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_controlplane_xds_nacks_total",
			Help: "xDS responses a proxy rejected (NACK), by resource type URL.",
		}, []string{"type_url"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_controlplane_xds_nack_fallbacks_total",
			Help: "Reactions to a NACK: result=fallback (the node was set back to its last good snapshot) or parked (no good snapshot known; the node keeps what it has).",
		}, []string{"result"}),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_controlplane_xds_snapshot_builds_total",
			Help: "Snapshot builds by result: served, unchanged, build_error, invalid (failed deep validation; the previous snapshot stays).",
		}, []string{"result"}),
		version: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ingest_controlplane_xds_snapshot_version",
			Help: "Version of the newest snapshot served.",
		}),
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ingest_controlplane_xds_connected_nodes",
			Help: "Proxies (distinct node ids) with an open xDS stream.",
		}),
		certReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_controlplane_xds_certificate_reloads_total",
			Help: "Changes of the listener certificate files, by result: ok or error (the previous certificate stays).",
		}, []string{"result"}),
		certExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ingest_controlplane_xds_certificate_expiry_timestamp_seconds",
			Help: "NotAfter of the listener certificate being served, in unix seconds.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.nacks, m.fallbacks, m.builds, m.version, m.nodes, m.certReloads, m.certExpiry} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cannot register xds metrics: %w", err)
	}
	return m, nil
}

// typeLabel bounds the type_url label.
func typeLabel(typeURL string) string {
	if served(typeURL) {
		return typeURL
	}
	return "other"
}
