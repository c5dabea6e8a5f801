package envoyhost

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is the host's store of the counters and gauges filters define in their Parse: it
// implements api.ConfigCallbackHandler, like the stats scope Envoy hands the golang filter. As
// in Envoy, defining a name again returns the same metric, so a config rebuilt on every push
// keeps counting where the previous one stopped. Counter: Increment ignores offsets <= 0, Record
// adds. Gauge: Increment adds or subtracts (wrapping below zero like Envoy's release builds),
// Record sets. Defining one name as both a counter and a gauge panics (Envoy requires distinct
// names).
//
// Metrics is safe for concurrent use. With a Prometheus registerer, every metric is also
// exported as ingest_edge_filter_<name> (the name with a leading "ingest_edge_" removed and
// characters outside [a-zA-Z0-9_] replaced by "_"; counters end in "_total"), read at scrape
// time.
type Metrics struct {
	mu       sync.Mutex
	counters map[string]*metric
	gauges   map[string]*metric
}

type metric struct {
	v    atomic.Uint64
	desc *prometheus.Desc
}

var _ api.ConfigCallbackHandler = (*Metrics)(nil)

// NewMetrics returns an empty store, registered with reg as a collector when reg is not nil.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{counters: map[string]*metric{}, gauges: map[string]*metric{}}
	if reg != nil {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("cannot register the edge filter's metrics: %w", err)
		}
	}
	return m, nil
}

// DefineCounterMetric returns the counter name, creating it at zero the first time.
func (m *Metrics) DefineCounterMetric(name string) api.CounterMetric {
	return counterMetric{m.define(name, true)}
}

// DefineGaugeMetric returns the gauge name, creating it at zero the first time.
func (m *Metrics) DefineGaugeMetric(name string) api.GaugeMetric {
	return gaugeMetric{m.define(name, false)}
}

func (m *Metrics) define(name string, counter bool) *metric {
	m.mu.Lock()
	defer m.mu.Unlock()
	own, other, kind := m.counters, m.gauges, "counter"
	if !counter {
		own, other, kind = m.gauges, m.counters, "gauge"
	}
	if _, ok := other[name]; ok {
		panic(fmt.Sprintf("envoyhost: metric %q is defined as a counter and a gauge; Envoy needs distinct names", name))
	}
	if x, ok := own[name]; ok {
		return x
	}
	x := &metric{desc: prometheus.NewDesc(PrometheusName(name, counter),
		fmt.Sprintf("Envoy Go filter %s %q, defined by the filter's config parser.", kind, name), nil, nil)}
	own[name] = x
	return x
}

// PrometheusName is the name under which a filter metric is exported to Prometheus.
func PrometheusName(name string, counter bool) string {
	name = strings.TrimPrefix(name, "ingest_edge_")
	b := []byte("ingest_edge_filter_" + name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	out := string(b)
	if counter && !strings.HasSuffix(out, "_total") {
		out += "_total"
	}
	return out
}

// Counter returns the value of the counter name (0 if it is not defined).
func (m *Metrics) Counter(name string) uint64 { return m.value(m.counters, name) }

// Gauge returns the value of the gauge name (0 if it is not defined).
func (m *Metrics) Gauge(name string) uint64 { return m.value(m.gauges, name) }

func (m *Metrics) value(set map[string]*metric, name string) uint64 {
	m.mu.Lock()
	x := set[name]
	m.mu.Unlock()
	if x == nil {
		return 0
	}
	return x.v.Load()
}

// Describe sends nothing: the set of metrics grows as filters define them, so Metrics is an
// unchecked collector.
func (m *Metrics) Describe(chan<- *prometheus.Desc) {}

// Collect sends the current value of every metric.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.counters {
		ch <- prometheus.MustNewConstMetric(x.desc, prometheus.CounterValue, float64(x.v.Load()))
	}
	for _, x := range m.gauges {
		ch <- prometheus.MustNewConstMetric(x.desc, prometheus.GaugeValue, float64(x.v.Load()))
	}
}

type counterMetric struct{ m *metric }

func (c counterMetric) Increment(offset int64) {
	if offset > 0 {
		c.m.v.Add(uint64(offset))
	}
}
func (c counterMetric) Get() uint64         { return c.m.v.Load() }
func (c counterMetric) Record(value uint64) { c.m.v.Add(value) }

type gaugeMetric struct{ m *metric }

func (g gaugeMetric) Increment(offset int64) { g.m.v.Add(uint64(offset)) }
func (g gaugeMetric) Get() uint64            { return g.m.v.Load() }
func (g gaugeMetric) Record(value uint64)    { g.m.v.Store(value) }
