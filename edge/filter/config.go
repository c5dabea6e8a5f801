package filter

import (
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ingestdev/ingest/edge/filter/admission"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/migration/report"
)

// Names of the filter's Envoy metrics (see the package documentation). Envoy uses them as
// given, at the root of its stats.
const (
	MetricRequests          = "ingest_edge_requests"
	MetricAdmittedRequests  = "ingest_edge_admitted_requests"
	MetricAdmittedEvents    = "ingest_edge_admitted_events"
	MetricAdmittedBytes     = "ingest_edge_admitted_bytes"
	MetricUncountedRequests = "ingest_edge_uncounted_requests"
	// MetricInflightBytes is a gauge: the request bytes the edge holds now.
	MetricInflightBytes = "ingest_edge_inflight_bytes"
)

// RejectedMetric returns the name of the counter of requests refused with id (an
// err-ingest-... id): ingest_edge_rejected_ and the id without "err-ingest-", dashes as
// underscores (reason.ID.Name).
func RejectedMetric(id string) string {
	return "ingest_edge_rejected_" + reason.ID(id).Name()
}

// ConfigParser is the filter's api.StreamFilterConfigParser, registered with Envoy under
// filterconfig.PluginName together with the factory of a [Shared], whose
// [Shared.ConfigParser] gives the parser to register: its configurations share the Shared's
// cache of resolved API keys, so that a push does not make every client's key go through
// SHA-256 again. The zero ConfigParser is ready too, and gives every parsed configuration a key
// cache of its own (enough to validate a configuration, as the control plane does). It is safe
// for concurrent use.
type ConfigParser struct {
	keys *admission.KeyCache // nil: a cache per Parse
}

var _ api.StreamFilterConfigParser = ConfigParser{}

// Parse strictly decodes a plugin_config made by filterconfig.Encode (filterconfig.Parse:
// every problem is an error, which makes Envoy reject the listener), indexes its keys (with
// the parser's key cache, see [ConfigParser]), and, when callbacks is not nil (filter level),
// defines the filter's counters. It returns a *ParsedConfig.
func (p ConfigParser) Parse(any *anypb.Any, callbacks api.ConfigCallbackHandler) (interface{}, error) {
	cfg, err := filterconfig.Parse(any)
	if err != nil {
		return nil, err
	}
	pc := &ParsedConfig{cfg: cfg, resolver: admission.NewResolverWithCache(cfg, p.keys), metrics: newMetrics(callbacks),
		endpoint: &report.Endpoint{URL: cfg.ReportURL, Token: cfg.ReportToken, Interval: cfg.ReportIntervalOrDefault()}}
	if len(cfg.HopKey) > 0 {
		if pc.hopKey, err = hopauth.NewKey(cfg.HopKey); err != nil {
			return nil, err
		}
	}
	return pc, nil
}

// Merge returns a new *ParsedConfig for a route whose child config (route, virtual host or
// weighted cluster level) overrides the parent: the child's tenants, keys and limits, with the
// parent's counters when the child has none (route-level configs are parsed without
// callbacks). Neither argument is modified. A side that is not a *ParsedConfig is ignored.
func (ConfigParser) Merge(parent, child interface{}) interface{} {
	p, _ := parent.(*ParsedConfig)
	c, _ := child.(*ParsedConfig)
	switch {
	case c == nil && p == nil:
		return child
	case c == nil:
		out := *p
		return &out
	case p == nil:
		out := *c
		return &out
	}
	out := *c
	if out.metrics == nil {
		out.metrics = p.metrics
	}
	return &out
}

// ParsedConfig is one parsed configuration, shared by every request and worker until the next
// push. It is immutable and safe for concurrent use.
type ParsedConfig struct {
	cfg      *filterconfig.Config
	resolver *admission.Resolver
	metrics  *metrics // nil at route level
	// endpoint is where the shared reporter sends (an empty URL: nowhere); one pointer per
	// Parse, so that the filter applies it once per push.
	endpoint *report.Endpoint
	hopKey   *hopauth.Key // signs admitted requests; nil: none
}

// Config returns the decoded configuration; callers must not modify it.
func (c *ParsedConfig) Config() *filterconfig.Config { return c.cfg }

// HasMetrics reports whether the config defined the filter's counters (filter level).
func (c *ParsedConfig) HasMetrics() bool { return c.metrics != nil }

// metrics are the filter's Envoy metrics. A nil *metrics counts nothing.
type metrics struct {
	requests, admittedRequests, admittedEvents, admittedBytes, uncounted api.CounterMetric
	rejected                                                             map[string]api.CounterMetric
	inflight                                                             api.GaugeMetric
}

func newMetrics(cb api.ConfigCallbackHandler) *metrics {
	if cb == nil {
		return nil
	}
	m := &metrics{
		requests:         cb.DefineCounterMetric(MetricRequests),
		admittedRequests: cb.DefineCounterMetric(MetricAdmittedRequests),
		admittedEvents:   cb.DefineCounterMetric(MetricAdmittedEvents),
		admittedBytes:    cb.DefineCounterMetric(MetricAdmittedBytes),
		uncounted:        cb.DefineCounterMetric(MetricUncountedRequests),
		rejected:         make(map[string]api.CounterMetric, len(reasons)),
		inflight:         cb.DefineGaugeMetric(MetricInflightBytes),
	}
	for _, r := range reasons {
		m.rejected[r] = cb.DefineCounterMetric(RejectedMetric(r))
	}
	return m
}

func (m *metrics) request() {
	if m != nil {
		m.requests.Increment(1)
	}
}

func (m *metrics) admitted(events, bytes int64) {
	if m != nil {
		m.admittedRequests.Increment(1)
		m.admittedEvents.Increment(events)
		m.admittedBytes.Increment(bytes)
	}
}

func (m *metrics) uncountedRequest() {
	if m != nil {
		m.uncounted.Increment(1)
	}
}

func (m *metrics) reject(id string) {
	if m != nil {
		if c := m.rejected[id]; c != nil {
			c.Increment(1)
		}
	}
}

func (m *metrics) setInflight(n int64) {
	if m != nil && n >= 0 {
		m.inflight.Record(uint64(n))
	}
}
