package goedge

import (
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/edge/filter/admission"
	"github.com/ingestdev/ingest/internal/metricdef"
)

// Values of the cluster label for requests that reached no cluster.
const (
	labelLocalReply     = "local_reply"     // the filter (or the host) answered
	labelDirectResponse = "direct_response" // a direct_response route answered
	labelNoRoute        = "no_route"        // no route matched: 404
	labelNone           = "none"            // the edge answered before routing (no config, bad request)
)

// metrics are the edge's own Prometheus metrics (the filter's are envoyhost.Metrics).
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	upstreamErrors *prometheus.CounterVec
	retries        *prometheus.CounterVec
	mirrors        *prometheus.CounterVec
	xdsUpdates     *prometheus.CounterVec
	xdsVersion     *prometheus.GaugeVec
	xdsConnected   prometheus.Gauge
	// xdsHandshakeFailures counts failed TLS handshakes with the control plane by reason.
	xdsHandshakeFailures *prometheus.CounterVec
	ready                prometheus.Gauge
	filterActive         prometheus.Gauge
	// listenerDrains counts responses that closed their connection because the listener
	// changed after the connection was accepted (Envoy's drain of a changed filter chain).
	listenerDrains prometheus.Counter

	mu       sync.Mutex
	versions map[string]string // type → version exported in xdsVersion
	codes    sync.Map          // int → string, to avoid formatting status codes per request
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: metricdef.CounterVec("ingest_edge_requests_total",
			"Requests answered by the edge, by cluster (or local_reply, direct_response, no_route, none) and HTTP status code.", "cluster", "code"),
		duration: metricdef.HistogramVec("ingest_edge_request_duration_seconds",
			"Time from the request's headers to the end of its response, by cluster.",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "cluster"),
		upstreamErrors: metricdef.CounterVec("ingest_edge_upstream_errors_total",
			"Upstream requests that got no response, by cluster and reason (connect_failure, reset, timeout, overflow, no_healthy_upstream, cluster_not_found).", "cluster", "reason"),
		retries: metricdef.CounterVec("ingest_edge_upstream_retries_total",
			"Upstream requests retried by the route's retry policy, by cluster and reason (status_<code>, connect_failure, overflow: a retry refused by max_retries).", "cluster", "reason"),
		mirrors: metricdef.CounterVec("ingest_edge_mirrors_total",
			"Mirrored (shadow) requests by cluster and outcome (sent, failed, dropped_full, dropped_overflow, dropped_no_cluster).", "cluster", "outcome"),
		xdsUpdates: metricdef.CounterVec("ingest_edge_xds_updates_total",
			"xDS responses by type (cds, lds, eds, rds, sds, ecds) and outcome (applied: ACKed, rejected: NACKed).", "type", "outcome"),
		xdsVersion: metricdef.GaugeVec("ingest_edge_xds_version_info",
			"1 for the version of each xDS type the edge accepted last.", "type", "version"),
		xdsConnected: metricdef.Gauge("ingest_edge_xds_connected",
			"1 while the edge has an ADS stream to the control plane."),
		xdsHandshakeFailures: metricdef.CounterVec("ingest_edge_xds_handshake_failures_total",
			"TLS handshakes with the control plane's xDS server that failed, by reason: server_certificate_rejected (not signed by edge.xds_ca_file for the server name, or expired: nothing from it is applied), refused_by_server (the control plane refused the edge's certificate), handshake (other).", "reason"),
		ready: metricdef.Gauge("ingest_edge_ready",
			"1 once a complete configuration is applied and until shutdown starts."),
		filterActive: metricdef.Gauge("ingest_edge_filter_active",
			"1 when the served listener runs the edge filter; 0 when its filter configuration (ECDS) names another plugin (requests then pass unfiltered and the routes fail closed)."),
		listenerDrains: metricdef.Counter("ingest_edge_listener_drain_responses_total",
			"Responses sent with Connection: close (HTTP/2: GOAWAY) because the listener changed after their connection was accepted, as Envoy drains the connections of a changed filter chain. Key, quota and stage changes never cause them (they come over ECDS and RDS)."),
		versions: map[string]string{},
	}
	if err := metricdef.Register(reg, m.requests, m.duration, m.upstreamErrors, m.retries, m.mirrors,
		m.xdsUpdates, m.xdsVersion, m.xdsConnected, m.xdsHandshakeFailures, m.ready, m.filterActive, m.listenerDrains); err != nil {
		return nil, fmt.Errorf("cannot register the edge's metrics: %w", err)
	}
	return m, nil
}

// code returns the label value of a status code.
func (m *metrics) code(status int) string {
	if v, ok := m.codes.Load(status); ok {
		return v.(string)
	}
	s := strconv.Itoa(status)
	m.codes.Store(status, s)
	return s
}

// setVersion exports the version of a type.
func (m *metrics) setVersion(typ, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.versions[typ]; ok {
		if old == version {
			return
		}
		m.xdsVersion.DeleteLabelValues(typ, old)
	}
	m.versions[typ] = version
	m.xdsVersion.WithLabelValues(typ, version).Set(1)
}

// shedDesc is ingest_edge_shed_total: the filter's sheds (429 and 503 after the API key was
// accepted) by tenant and reason id, read from its filter.Shared at scrape time. Tenants are
// the control plane's tenant ids, so the cardinality is bounded by the registry times the four
// shed reasons.
var shedDesc = prometheus.NewDesc("ingest_edge_shed_total",
	"Requests the edge filter shed with 429 or 503 (edge full, tenant share full, tenant rate limited), by tenant and reason id.",
	[]string{"tenant", "reason"}, nil)

// shedCollector exports the filter's per-tenant shed counts.
type shedCollector struct{ shared *filter.Shared }

func (c shedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- shedDesc }

func (c shedCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.shared.Sheds() {
		ch <- prometheus.MustNewConstMetric(shedDesc, prometheus.CounterValue, float64(s.N), s.Tenant, s.Reason)
	}
}

// maxShareTenants bounds ingest_edge_quota_share: the tenants with the largest shares are
// exported, at most this many (the control plane assigns shares only to tenants with a quota
// and recent traffic).
const maxShareTenants = 100

var (
	shareDesc = prometheus.NewDesc("ingest_edge_quota_share",
		"This edge's share of a tenant's quota (rates and bursts), as the control plane assigned it from the edges' reports (docs/edge.md, \"Global quotas\"); at most 100 tenants, the largest shares.",
		[]string{"tenant"}, nil)
	shareEdgesDesc = prometheus.NewDesc("ingest_edge_quota_share_edges",
		"The live edges the control plane counted in its last assignment; after the grace, every tenant has 1/edges.", nil, nil)
	shareStateDesc = prometheus.NewDesc("ingest_edge_quota_share_state",
		"1 for where this edge's quota shares come from: unassigned (no reply yet: each quota whole), assigned (the last reply, within its grace) or fallback (the grace passed: 1/edges).",
		[]string{"state"}, nil)
)

// shareCollector exports the filter's quota shares.
type shareCollector struct{ shared *filter.Shared }

func (c shareCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- shareDesc
	ch <- shareEdgesDesc
	ch <- shareStateDesc
}

func (c shareCollector) Collect(ch chan<- prometheus.Metric) {
	shares, edges, state := c.shared.QuotaShares()
	ids := make([]string, 0, len(shares))
	for id := range shares {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if shares[ids[i]] != shares[ids[j]] {
			return shares[ids[i]] > shares[ids[j]]
		}
		return ids[i] < ids[j]
	})
	for _, id := range ids[:min(len(ids), maxShareTenants)] {
		ch <- prometheus.MustNewConstMetric(shareDesc, prometheus.GaugeValue, shares[id], id)
	}
	ch <- prometheus.MustNewConstMetric(shareEdgesDesc, prometheus.GaugeValue, float64(edges))
	for _, st := range []admission.ShareState{admission.ShareUnassigned, admission.ShareAssigned, admission.ShareFallback} {
		v := 0.0
		if st == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(shareStateDesc, prometheus.GaugeValue, v, st.String())
	}
}
