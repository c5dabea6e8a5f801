package loader

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// VisibilityObjective is the send → visible objective the loader's histograms are read
// against: 95% of rows visible within it (exported as
// ingest_loader_visibility_objective_seconds{quantile="0.95"}).
const VisibilityObjective = time.Second

// Bounds of the per-tenant visibility histogram's cardinality.
const (
	maxVisibilityTenants = 100
	otherTenant          = "_other"
)

// visibilityBuckets are the bounds of the visibility histograms: fine around the 1 s and 3 s
// objectives (BENCHMARKS.md, docs/sinkwriter.md), coarse beyond.
var visibilityBuckets = [numVisibilityBuckets]float64{.05, .1, .25, .5, .75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300}

const numVisibilityBuckets = 14

// visibilityBucketNanos are visibilityBuckets in nanoseconds.
var visibilityBucketNanos = func() (out [numVisibilityBuckets]int64) {
	for i, b := range visibilityBuckets {
		out[i] = int64(b * 1e9)
	}
	return out
}()

// rowCounts is a histogram of row visibilities that one flush fills without synchronization,
// then adds to a rowHistogram at once: a Prometheus histogram's Observe per row (two per row,
// by table and by tenant) was about 70 ns of the loader's per-row work.
type rowCounts struct {
	n   [numVisibilityBuckets + 1]uint64 // per bucket, not cumulative; the last is +Inf
	sum int64                            // nanoseconds
}

// visibilityBucket returns the bucket of a visibility of ns nanoseconds.
func visibilityBucket(ns int64) int {
	i := 0
	for i < len(visibilityBucketNanos) && ns > visibilityBucketNanos[i] {
		i++
	}
	return i
}

// observe counts a row of ns nanoseconds in bucket i (visibilityBucket(ns)).
func (c *rowCounts) observe(i int, ns int64) {
	c.n[i]++
	c.sum += ns
}

// rowHistogram is one exported series: what the flushes added, read at scrape time.
type rowHistogram struct {
	n   [numVisibilityBuckets + 1]atomic.Uint64
	sum atomic.Int64
}

func (h *rowHistogram) add(c *rowCounts) {
	for i, v := range c.n {
		if v > 0 {
			h.n[i].Add(v)
		}
	}
	h.sum.Add(c.sum)
}

// metric returns the series as a constant Prometheus histogram.
func (h *rowHistogram) metric(desc *prometheus.Desc, label string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(visibilityBuckets))
	var cum uint64
	for i, b := range visibilityBuckets {
		cum += h.n[i].Load()
		buckets[b] = cum
	}
	count := cum + h.n[numVisibilityBuckets].Load()
	return prometheus.MustNewConstHistogram(desc, count, float64(h.sum.Load())/1e9, buckets, label)
}

// visibilityCollector exports ingest_loader_visibility_seconds{table} and
// ingest_loader_tenant_visibility_seconds{tenant}: per row, the time from its receipt by the
// normalizer (received_at) to ClickHouse's acknowledgement of its INSERT. Tenants get their
// own series up to maxVisibilityTenants, later ones count under otherTenant.
type visibilityCollector struct {
	tableDesc, tenantDesc *prometheus.Desc
	tables                [numTables]rowHistogram

	mu      sync.Mutex // guards tenants
	tenants map[string]*rowHistogram
}

func newVisibilityCollector() *visibilityCollector {
	return &visibilityCollector{
		tableDesc: prometheus.NewDesc("ingest_loader_visibility_seconds",
			"Per row inserted, the time from its receipt by the normalizer (received_at) to ClickHouse's acknowledgement of its INSERT: send to visible, as the running system sees it (minus the client's own wait for the normalizer), by table.",
			[]string{"table"}, nil),
		tenantDesc: prometheus.NewDesc("ingest_loader_tenant_visibility_seconds",
			"ingest_loader_visibility_seconds by tenant (every table): one series per tenant for the first 100 tenants the loader sees, the rows of later ones under tenant=\"_other\".",
			[]string{"tenant"}, nil),
		tenants: map[string]*rowHistogram{},
	}
}

// tenant returns tenant's series, or otherTenant's once maxVisibilityTenants tenants have one.
func (c *visibilityCollector) tenant(tenant []byte) *rowHistogram {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.tenants[string(tenant)]; ok {
		return h
	}
	name := string(tenant)
	if len(c.tenants) >= maxVisibilityTenants {
		name = otherTenant
		if h, ok := c.tenants[name]; ok {
			return h
		}
	}
	h := &rowHistogram{}
	c.tenants[name] = h
	return h
}

func (c *visibilityCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.tableDesc
	ch <- c.tenantDesc
}

func (c *visibilityCollector) Collect(ch chan<- prometheus.Metric) {
	for t := range numTables {
		ch <- c.tables[t].metric(c.tableDesc, t.String())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, h := range c.tenants {
		ch <- h.metric(c.tenantDesc, name)
	}
}
