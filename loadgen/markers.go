package loadgen

import (
	"context"
	"sync"
	"time"
)

// MarkerPrefix starts the body of every marker log: `loadgen-marker <32 hex digits>`.
const MarkerPrefix = "loadgen-marker "

// Visibility tells which marker logs became visible to queries. ClickHouseVisibility looks in
// the logs table; tests use a fake.
type Visibility interface {
	// Visible returns those of markers (log bodies) of tenant that are visible now. since is
	// no later than the earliest send time of markers, to bound the time range searched.
	// It is called from one goroutine at a time.
	Visible(ctx context.Context, tenant string, since time.Time, markers []string) ([]string, error)
}

// maxMarkersPerQuery bounds the marker bodies looked up in one call of Visible.
const maxMarkersPerQuery = 500

// markerTracker keeps the markers sent and not yet visible, and records each one's end-to-end
// latency when a poll finds it. Safe for concurrent use.
type markerTracker struct {
	src   Visibility
	now   func() time.Time
	stats map[string]*tenantStats
	total *tenantStats

	mu         sync.Mutex
	pending    map[string]map[string]time.Time // tenant → marker body → send time
	pollErrors uint64
	lastErr    error
}

func newMarkerTracker(src Visibility, now func() time.Time, stats map[string]*tenantStats, total *tenantStats) *markerTracker {
	return &markerTracker{src: src, now: now, stats: stats, total: total, pending: make(map[string]map[string]time.Time)}
}

// add records a marker as sent at sentAt (before its request is sent, so that a fast pipeline
// cannot make it visible before it is tracked).
func (m *markerTracker) add(tenant, marker string, sentAt time.Time) {
	m.mu.Lock()
	if m.pending[tenant] == nil {
		m.pending[tenant] = make(map[string]time.Time)
	}
	m.pending[tenant][marker] = sentAt
	m.mu.Unlock()
	for _, s := range []*tenantStats{m.stats[tenant], m.total} {
		s.mu.Lock()
		s.markersSent++
		s.mu.Unlock()
	}
}

// drop forgets a marker whose request was not accepted: it will never be visible.
func (m *markerTracker) drop(tenant, marker string) {
	m.mu.Lock()
	delete(m.pending[tenant], marker)
	m.mu.Unlock()
	for _, s := range []*tenantStats{m.stats[tenant], m.total} {
		s.mu.Lock()
		s.markersFailed++
		s.mu.Unlock()
	}
}

// outstanding returns the markers not yet visible.
func (m *markerTracker) outstanding() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range m.pending {
		n += len(p)
	}
	return n
}

// poll looks up every tenant's outstanding markers once; a visible marker's latency is the
// time of the poll that found it minus its send time (so its resolution is the poll interval).
func (m *markerTracker) poll(ctx context.Context) {
	m.mu.Lock()
	type query struct {
		tenant  string
		since   time.Time
		markers []string
	}
	var qs []query
	for tenant, p := range m.pending {
		q := query{tenant: tenant}
		for mk, at := range p {
			if q.since.IsZero() || at.Before(q.since) {
				q.since = at
			}
			q.markers = append(q.markers, mk)
			if len(q.markers) == maxMarkersPerQuery {
				qs = append(qs, q)
				q = query{tenant: tenant}
			}
		}
		if len(q.markers) > 0 {
			qs = append(qs, q)
		}
	}
	m.mu.Unlock()
	for _, q := range qs {
		visible, err := m.src.Visible(ctx, q.tenant, q.since, q.markers)
		seenAt := m.now()
		if err != nil {
			m.mu.Lock()
			m.pollErrors++
			m.lastErr = err
			m.mu.Unlock()
			continue
		}
		for _, mk := range visible {
			m.mu.Lock()
			at, ok := m.pending[q.tenant][mk]
			delete(m.pending[q.tenant], mk)
			m.mu.Unlock()
			if !ok {
				continue // not ours, or already seen
			}
			for _, s := range []*tenantStats{m.stats[q.tenant], m.total} {
				s.mu.Lock()
				s.markersVisible++
				s.mu.Unlock()
				s.e2e.Observe(seenAt.Sub(at))
			}
		}
	}
}

// run polls every interval until ctx is done.
func (m *markerTracker) run(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() bool {
		m.poll(ctx)
		return true
	})
}

// expire counts every outstanding marker as not visible.
func (m *markerTracker) expire() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tenant, p := range m.pending {
		for _, s := range []*tenantStats{m.stats[tenant], m.total} {
			s.mu.Lock()
			s.markersLost += uint64(len(p))
			s.mu.Unlock()
		}
		delete(m.pending, tenant)
	}
}

func (m *markerTracker) errors() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pollErrors, m.lastErr
}
