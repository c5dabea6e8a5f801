package loadgen

import (
	"math"
	"sync"
	"time"
)

// histogram records durations in logarithmic buckets 1% wide, from 1 µs to about 1000 s; its
// percentiles are within 1% of the true value. It is safe for concurrent use.
type histogram struct {
	mu      sync.Mutex
	buckets [histBuckets]uint64
	n       uint64
	max     time.Duration
}

const (
	histGrowth  = 1.01
	histBuckets = 2100
)

var logGrowth = math.Log(histGrowth)

func (h *histogram) Observe(d time.Duration) {
	us := float64(d) / float64(time.Microsecond)
	i := 0
	if us > 1 {
		i = int(math.Log(us) / logGrowth)
		if i >= histBuckets {
			i = histBuckets - 1
		}
	}
	h.mu.Lock()
	h.buckets[i]++
	h.n++
	if d > h.max {
		h.max = d
	}
	h.mu.Unlock()
}

// Quantile returns the q-quantile (0 < q ≤ 1), or 0 without observations.
func (h *histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.buckets {
		seen += c
		if seen >= rank {
			// the bucket's geometric middle, never above the largest observation
			d := time.Duration(math.Pow(histGrowth, float64(i)+0.5) * float64(time.Microsecond))
			if d > h.max {
				d = h.max
			}
			return d
		}
	}
	return h.max
}

func (h *histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// tenantStats counts one tenant's requests. Safe for concurrent use.
type tenantStats struct {
	mu              sync.Mutex
	requests        uint64
	events          uint64
	accepted        uint64
	acceptedEvents  uint64
	status429       uint64
	status503       uint64
	otherStatus     uint64
	transportErrors uint64
	retryAfter      uint64 // answers that carried Retry-After
	latency         histogram
	e2e             histogram
	markersSent     uint64
	markersFailed   uint64 // marker requests not answered 2xx: not tracked
	markersVisible  uint64
	markersLost     uint64
}

// outcome is how one request ended.
type outcome int

const (
	outcomeAccepted outcome = iota
	outcome429
	outcome503
	outcomeOtherStatus
	outcomeTransportError
)

func (s *tenantStats) record(events int, o outcome, retryAfter bool, latency time.Duration) {
	s.mu.Lock()
	s.requests++
	s.events += uint64(events)
	switch o {
	case outcomeAccepted:
		s.accepted++
		s.acceptedEvents += uint64(events)
	case outcome429:
		s.status429++
	case outcome503:
		s.status503++
	case outcomeOtherStatus:
		s.otherStatus++
	case outcomeTransportError:
		s.transportErrors++
	}
	if retryAfter {
		s.retryAfter++
	}
	s.mu.Unlock()
	if o != outcomeTransportError {
		s.latency.Observe(latency)
	}
}

// Latencies are percentiles of a latency distribution in milliseconds.
type Latencies struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
}

func latencies(h *histogram) Latencies {
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }
	return Latencies{Count: h.Count(), P50: ms(h.Quantile(0.50)), P95: ms(h.Quantile(0.95)), P99: ms(h.Quantile(0.99))}
}

// TenantReport is what one tenant sent and what the pipeline answered. Requests counts the
// paced requests only; marker requests are counted under Markers.
type TenantReport struct {
	Tenant          string    `json:"tenant"`
	Profile         string    `json:"profile"`
	Requests        uint64    `json:"requests"`
	Events          uint64    `json:"events"`
	Accepted        uint64    `json:"accepted"`        // requests answered 2xx
	AcceptedEvents  uint64    `json:"accepted_events"` // events in requests answered 2xx
	Status429       uint64    `json:"status_429"`
	Status503       uint64    `json:"status_503"`
	OtherStatus     uint64    `json:"other_status"`     // any other HTTP status
	TransportErrors uint64    `json:"transport_errors"` // no HTTP answer: connection errors, timeouts
	RetryAfter      uint64    `json:"retry_after"`      // answers that carried Retry-After
	EventsPerSec    float64   `json:"events_per_sec"`   // events sent per second of the run
	Latency         Latencies `json:"request_latency"`  // 2xx and non-2xx answers alike
	Markers         Markers   `json:"markers"`
}

// Markers summarizes a tenant's marker events and their end-to-end latency.
type Markers struct {
	Sent       uint64    `json:"sent"`
	NotTracked uint64    `json:"not_tracked"` // marker requests not answered 2xx
	Visible    uint64    `json:"visible"`
	NotVisible uint64    `json:"not_visible"` // accepted but not visible by the end of the grace
	E2E        Latencies `json:"e2e_latency"`
}

// Report is the result of a run.
type Report struct {
	Target   string         `json:"target"`
	Started  time.Time      `json:"started"`
	Duration float64        `json:"duration_s"` // from the first request to the last answer
	E2E      bool           `json:"e2e"`        // whether markers were tracked
	Tenants  []TenantReport `json:"tenants"`
	Total    TenantReport   `json:"total"`

	PollErrors    uint64 `json:"poll_errors,omitempty"`     // failed marker lookups
	LastPollError string `json:"last_poll_error,omitempty"` // the last of them
}

func (s *tenantStats) report(name, profile string, secs float64) TenantReport {
	s.mu.Lock()
	r := TenantReport{
		Tenant: name, Profile: profile, Requests: s.requests, Events: s.events, Accepted: s.accepted,
		AcceptedEvents: s.acceptedEvents, Status429: s.status429, Status503: s.status503,
		OtherStatus: s.otherStatus, TransportErrors: s.transportErrors, RetryAfter: s.retryAfter,
		Markers: Markers{Sent: s.markersSent, NotTracked: s.markersFailed, Visible: s.markersVisible, NotVisible: s.markersLost},
	}
	s.mu.Unlock()
	if secs > 0 {
		r.EventsPerSec = math.Round(float64(r.Events)/secs*10) / 10
	}
	r.Latency = latencies(&s.latency)
	r.Markers.E2E = latencies(&s.e2e)
	return r
}
