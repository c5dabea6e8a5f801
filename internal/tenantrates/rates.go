package tenantrates

import (
	"math"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/internal/tenant"
)

// The metrics Compute reads, as the services export them (their metrics.go).
const (
	// MetricEdgeShed counts the requests the edges shed with 429 or 503 (tenant, reason).
	MetricEdgeShed = "ingest_edge_shed_total"
	// MetricNormalizerAccepted counts the events the normalizers wrote to the sink (tenant,
	// signal).
	MetricNormalizerAccepted = "ingest_normalizer_events_accepted_total"
	// MetricNormalizerRejected counts the events the normalizers rejected (tenant, signal,
	// reason), those of requests the sink refused included.
	MetricNormalizerRejected = "ingest_normalizer_events_rejected_total"
	// MetricNormalizerShed counts the requests the normalizers refused with 429 or 503 (tenant,
	// reason), the sink writer's refusals (err-ingest-sink-full, -sink-unavailable) included.
	MetricNormalizerShed = "ingest_normalizer_shed_total"
	// MetricSinkWriterProduced counts the records Kafka acknowledged to the sink writers
	// (tenant).
	MetricSinkWriterProduced = "ingest_sinkwriter_records_produced_total"
	// MetricLoaderTopicLag is the gauge of records not yet processed in a loader's partitions of
	// a tenant topic (topic).
	MetricLoaderTopicLag = "ingest_loader_topic_lag_records"
	// MetricLoaderTopicLagSeconds is the gauge of how far behind a loader reads a tenant topic
	// (topic).
	MetricLoaderTopicLagSeconds = "ingest_loader_topic_lag_seconds"
	// MetricLoaderVisibility is the histogram of send → visible per row loaded (tenant).
	MetricLoaderVisibility = "ingest_loader_tenant_visibility_seconds"
)

// otherTenant is the loader's visibility series of the tenants beyond its first 100: not a
// tenant.
const otherTenant = "_other"

// Options say how to read the metrics. The zero Options are the defaults.
type Options struct {
	// TopicPattern is the sink writer's topic_pattern, which maps the loaders' topic label to
	// tenants (a tenant's shadow topic counts as the tenant's). Empty:
	// tenant.DefaultTopicPattern. Topics that do not match it are ignored.
	TopicPattern string
	// Quantile is the quantile of VisibilitySeconds, in (0, 1]. Zero: 0.95.
	Quantile float64
}

// Tenant is one tenant's figures between two rounds of scrapes. Rates are per second, summed
// over the targets.
type Tenant struct {
	// AcceptedPerSec is the events the normalizers accepted, every signal.
	AcceptedPerSec float64
	// RejectedPerSec is the events the normalizers rejected, by reason id (every signal).
	RejectedPerSec map[string]float64
	// ShedPerSec is the requests the edges and the normalizers refused with 429 or 503, by
	// reason id.
	ShedPerSec map[string]float64
	// ProducedPerSec is the records Kafka acknowledged to the sink writers.
	ProducedPerSec float64
	// LagRecords is the records of the tenant's topics (live and shadow) the loaders have not
	// processed yet, summed over the loaders; nil when no loader reports a topic of the tenant.
	LagRecords *float64
	// LagSeconds is how far behind the most lagging loader reads the tenant's topics, in
	// seconds; nil as LagRecords.
	LagSeconds *float64
	// VisibilitySeconds is the quantile (Options.Quantile) of send → visible of the rows
	// loaded between the two rounds, in seconds; nil when no row was loaded.
	VisibilitySeconds *float64
}

// RejectedTotal returns the events per second rejected for any reason.
func (t *Tenant) RejectedTotal() float64 { return sum(t.RejectedPerSec) }

// ShedByStatus returns the requests per second shed with 429 and with 503, by the status the
// catalogue (internal/reason) gives each reason; an id not in the catalogue counts as 503.
func (t *Tenant) ShedByStatus() (tooMany, unavailable float64) {
	for id, v := range t.ShedPerSec {
		if reason.ID(id).Status() == http.StatusTooManyRequests {
			tooMany += v
		} else {
			unavailable += v
		}
	}
	return tooMany, unavailable
}

func sum(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}

// Stats are the figures of every tenant the metrics name.
type Stats struct {
	// Tenants by id: every tenant with a series in a target that is up, even at rate zero.
	Tenants map[string]*Tenant
}

func (s *Stats) tenant(id string) *Tenant {
	t, ok := s.Tenants[id]
	if !ok {
		t = &Tenant{RejectedPerSec: map[string]float64{}, ShedPerSec: map[string]float64{}}
		s.Tenants[id] = t
	}
	return t
}

// Compute returns the figures between prev and cur, two rounds of scrapes of the same targets
// (matched by name and URL, in any order): rates from the counters' increases, lags from
// cur's gauges, the visibility quantile from the histograms' increases (see the package
// documentation). A target down in cur adds nothing; one down in prev or absent from it adds
// its gauges only.
func Compute(prev, cur []Scrape, opt Options) Stats {
	if opt.TopicPattern == "" {
		opt.TopicPattern = tenant.DefaultTopicPattern
	}
	if opt.Quantile <= 0 || opt.Quantile > 1 {
		opt.Quantile = 0.95
	}
	st := Stats{Tenants: map[string]*Tenant{}}
	before := make(map[Target]Scrape, len(prev))
	for _, s := range prev {
		if s.Up() {
			before[s.Target] = s
		}
	}
	vis := map[string]buckets{}
	for _, s := range cur {
		if !s.Up() {
			continue
		}
		st.gauges(s, opt.TopicPattern)
		p, ok := before[s.Target]
		if !ok {
			continue
		}
		dt := s.Time.Sub(p.Time).Seconds()
		if dt <= 0 {
			continue
		}
		st.counters(p, s, dt)
		addHistograms(vis, p.Families[MetricLoaderVisibility], s.Families[MetricLoaderVisibility])
	}
	for id, b := range vis {
		t := st.tenant(id)
		if q, ok := b.quantile(opt.Quantile); ok {
			t.VisibilitySeconds = &q
		}
	}
	return st
}

// counters adds the rates of one target between its scrapes p and s, dt seconds apart.
func (st *Stats) counters(p, s Scrape, dt float64) {
	increases(p.Families[MetricNormalizerAccepted], s.Families[MetricNormalizerAccepted], func(l labels, inc float64) {
		if id := l.get("tenant"); id != "" {
			st.tenant(id).AcceptedPerSec += inc / dt
		}
	})
	increases(p.Families[MetricNormalizerRejected], s.Families[MetricNormalizerRejected], func(l labels, inc float64) {
		if id := l.get("tenant"); id != "" {
			st.tenant(id).RejectedPerSec[l.get("reason")] += inc / dt
		}
	})
	for _, name := range []string{MetricEdgeShed, MetricNormalizerShed} {
		increases(p.Families[name], s.Families[name], func(l labels, inc float64) {
			if id := l.get("tenant"); id != "" {
				st.tenant(id).ShedPerSec[l.get("reason")] += inc / dt
			}
		})
	}
	increases(p.Families[MetricSinkWriterProduced], s.Families[MetricSinkWriterProduced], func(l labels, inc float64) {
		if id := l.get("tenant"); id != "" {
			st.tenant(id).ProducedPerSec += inc / dt
		}
	})
}

// gauges adds the lag gauges of one target's scrape.
func (st *Stats) gauges(s Scrape, pattern string) {
	for _, m := range s.Families[MetricLoaderTopicLag].GetMetric() {
		v, ok := sampleValue(m)
		id, isTenant := tenantOfTopic(pattern, labelsOf(m).get("topic"))
		if !ok || !isTenant {
			continue
		}
		t := st.tenant(id)
		if t.LagRecords == nil {
			t.LagRecords = new(float64)
		}
		*t.LagRecords += v
	}
	for _, m := range s.Families[MetricLoaderTopicLagSeconds].GetMetric() {
		v, ok := sampleValue(m)
		id, isTenant := tenantOfTopic(pattern, labelsOf(m).get("topic"))
		if !ok || !isTenant {
			continue
		}
		t := st.tenant(id)
		if t.LagSeconds == nil || v > *t.LagSeconds {
			t.LagSeconds = &v
		}
	}
}

// tenantOfTopic returns the tenant whose live or shadow topic under pattern is topic.
func tenantOfTopic(pattern, topic string) (string, bool) {
	topic = strings.TrimSuffix(topic, tenant.ShadowTopicSuffix)
	prefix, suffix, ok := strings.Cut(pattern, tenant.Placeholder)
	if !ok || len(topic) <= len(prefix)+len(suffix) || !strings.HasPrefix(topic, prefix) || !strings.HasSuffix(topic, suffix) {
		return "", false
	}
	id := topic[len(prefix) : len(topic)-len(suffix)]
	if !tenant.Valid(id) {
		return "", false
	}
	return id, true
}

// labels are a series' label pairs.
type labels []*dto.LabelPair

func labelsOf(m *dto.Metric) labels { return m.GetLabel() }

func (l labels) get(name string) string {
	for _, p := range l {
		if p.GetName() == name {
			return p.GetValue()
		}
	}
	return ""
}

// key identifies a series within its family: its label pairs, sorted.
func (l labels) key() string {
	pairs := make([]string, 0, len(l))
	for _, p := range l {
		pairs = append(pairs, p.GetName()+"\xff"+p.GetValue())
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "\xfe")
}

// sampleValue returns a counter's, gauge's or untyped series' value; false for other types and
// for values that are not finite.
func sampleValue(m *dto.Metric) (float64, bool) {
	var v float64
	switch {
	case m.Counter != nil:
		v = m.Counter.GetValue()
	case m.Gauge != nil:
		v = m.Gauge.GetValue()
	case m.Untyped != nil:
		v = m.Untyped.GetValue()
	default:
		return 0, false
	}
	return v, !math.IsNaN(v) && !math.IsInf(v, 0)
}

// increases calls f with each series of cur and its increase since prev (nil: a family absent
// before, whose series all started at zero). A value below the previous one is a reset: the
// increase is the value.
func increases(prev, cur *dto.MetricFamily, f func(l labels, inc float64)) {
	before := make(map[string]float64, len(prev.GetMetric()))
	for _, m := range prev.GetMetric() {
		if v, ok := sampleValue(m); ok {
			before[labelsOf(m).key()] = v
		}
	}
	for _, m := range cur.GetMetric() {
		v, ok := sampleValue(m)
		if !ok || v < 0 {
			continue
		}
		l := labelsOf(m)
		inc := v
		if pv, ok := before[l.key()]; ok && v >= pv {
			inc = v - pv
		}
		f(l, inc)
	}
}

// buckets are a histogram's cumulative counts by upper bound (+Inf included).
type buckets map[float64]float64

// histogramBuckets returns a series' cumulative counts by upper bound, with +Inf the sample
// count; false if it is not a histogram.
func histogramBuckets(m *dto.Metric) (buckets, bool) {
	h := m.GetHistogram()
	if h == nil {
		return nil, false
	}
	out := make(buckets, len(h.GetBucket())+1)
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			c = b.GetCumulativeCountFloat()
		}
		out[b.GetUpperBound()] = c
	}
	count := float64(h.GetSampleCount())
	if h.SampleCountFloat != nil {
		count = h.GetSampleCountFloat()
	}
	out[math.Inf(1)] = count
	return out, true
}

// addHistograms adds to acc, by tenant, the bucket increases of each series of cur since prev.
// A series whose count went down was reset: its increase is its counts.
func addHistograms(acc map[string]buckets, prev, cur *dto.MetricFamily) {
	before := make(map[string]buckets, len(prev.GetMetric()))
	for _, m := range prev.GetMetric() {
		if b, ok := histogramBuckets(m); ok {
			before[labelsOf(m).key()] = b
		}
	}
	inf := math.Inf(1)
	for _, m := range cur.GetMetric() {
		l := labelsOf(m)
		id := l.get("tenant")
		b, ok := histogramBuckets(m)
		if !ok || id == "" || id == otherTenant {
			continue
		}
		pb := before[l.key()]
		if pb != nil && b[inf] < pb[inf] {
			pb = nil
		}
		a := acc[id]
		if a == nil {
			a = buckets{}
			acc[id] = a
		}
		for ub, c := range b {
			if math.IsNaN(ub) || math.IsNaN(c) {
				continue
			}
			a[ub] += max(c-pb[ub], 0)
		}
	}
}

// quantile returns the q-quantile of the observations counted in b, interpolated linearly
// within the bucket that holds it, as Prometheus' histogram_quantile: the lower bound of the
// first bucket is 0 (or its upper bound, if that is not positive), and a quantile in the +Inf
// bucket is the largest finite upper bound. False when b counts nothing or has no finite bound.
func (b buckets) quantile(q float64) (float64, bool) {
	bounds := make([]float64, 0, len(b))
	for ub := range b {
		bounds = append(bounds, ub)
	}
	sort.Float64s(bounds)
	if len(bounds) < 2 {
		return 0, false
	}
	// Cumulative counts never decrease; replicas with other bucket layouts may make them seem to.
	counts := make([]float64, len(bounds))
	for i, ub := range bounds {
		counts[i] = b[ub]
		if i > 0 && counts[i] < counts[i-1] {
			counts[i] = counts[i-1]
		}
	}
	total := counts[len(counts)-1]
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	i := sort.SearchFloat64s(counts, rank)
	if i >= len(bounds) {
		i = len(bounds) - 1
	}
	if math.IsInf(bounds[i], 1) {
		return bounds[len(bounds)-2], true
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = bounds[i-1], counts[i-1]
	} else if bounds[0] <= 0 {
		return bounds[0], true
	}
	if counts[i] == below {
		return bounds[i], true
	}
	return lower + (bounds[i]-lower)*(rank-below)/(counts[i]-below), true
}
