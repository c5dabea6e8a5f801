package xds

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/metricdef"
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

	serverTLSReloads  *prometheus.CounterVec
	serverCertExpiry  prometheus.Gauge
	handshakeFailures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		nacks: metricdef.CounterVec("ingest_controlplane_xds_nacks_total",
			"xDS responses a proxy rejected (NACK), by resource type URL.", "type_url"),
		fallbacks: metricdef.CounterVec("ingest_controlplane_xds_nack_fallbacks_total",
			"Reactions to a NACK: result=fallback (the node was set back to its last good snapshot) or parked (no good snapshot known; the node keeps what it has).", "result"),
		builds: metricdef.CounterVec("ingest_controlplane_xds_snapshot_builds_total",
			"Snapshot builds by result: served, unchanged, build_error, invalid (failed deep validation; the previous snapshot stays).", "result"),
		version: metricdef.Gauge("ingest_controlplane_xds_snapshot_version",
			"Version of the newest snapshot served."),
		nodes: metricdef.Gauge("ingest_controlplane_xds_connected_nodes",
			"Proxies (distinct node ids) with an open xDS stream."),
		certReloads: metricdef.CounterVec("ingest_controlplane_xds_certificate_reloads_total",
			"Changes of the listener certificate files, by result: ok or error (the previous certificate stays).", "result"),
		certExpiry: metricdef.Gauge("ingest_controlplane_xds_certificate_expiry_timestamp_seconds",
			"NotAfter of the listener certificate being served, in unix seconds."),
		serverTLSReloads: metricdef.CounterVec("ingest_controlplane_xds_server_tls_reloads_total",
			"Changes of the xDS server's own TLS files (xds.server_tls: certificate, key, client CA), by result: ok or error (the previous set stays).", "result"),
		serverCertExpiry: metricdef.Gauge("ingest_controlplane_xds_server_certificate_expiry_timestamp_seconds",
			"NotAfter of the certificate the xDS server presents to the edges, in unix seconds."),
		handshakeFailures: metricdef.CounterVec("ingest_controlplane_xds_handshake_failures_total",
			"Connections to the xDS server refused in the TLS handshake, by reason: client_certificate_rejected (not signed by xds.server_tls.client_ca_file, expired), client_name_not_allowed, handshake (no client certificate, plaintext, other).", "reason"),
	}
	if err := metricdef.Register(reg, m.nacks, m.fallbacks, m.builds, m.version, m.nodes, m.certReloads, m.certExpiry,
		m.serverTLSReloads, m.serverCertExpiry, m.handshakeFailures); err != nil {
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
