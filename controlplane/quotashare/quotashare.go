// Package quotashare divides each tenant's quota between the edges, so that a quota holds
// across the fleet rather than per edge, without a call on the request path.
//
// Every edge reports, about once a second on the report stream (migration/report), what each
// tenant asked of it: the requests and events it admitted and the requests it refused over
// quota. The Allocator turns that into each edge's offered events per second (admitted events,
// plus refused requests at the tenant's events per request on that edge) and answers the
// report with the edge's share of every quota that has demand somewhere (report.QuotaReply).
// The edge's filter multiplies the tenant's rates and bursts by its share and goes on deciding
// locally.
//
// Shares, for a tenant and the live edges (those that reported within EdgeTTL):
//
//   - every live edge gets Floor (1%) of the quota, so that a quiet edge can admit a client that
//     moves to it until the next reply grows its share;
//   - the rest is water-filled over the edges' unmet demand (demand − floor): edges asking less
//     than an equal part get what they ask, the others split what is left equally;
//   - what no edge asks is spread equally, so that growth is admitted at once.
//
// The shares sum to 1, so the edges together admit at most the quota plus one burst (each
// edge's bucket holds its share of the burst). An edge whose first report has not been
// answered, or that lost the control plane for longer than the reply's grace, uses 1/edges
// (see the edge filter). An edge's demand is that of its last report (Smoothing), so the
// allocation follows a change in where the clients send at the next report.
package quotashare

import (
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ingestdev/ingest/migration/report"
)

// Defaults of Config.
const (
	DefaultEdgeTTL   = 3 * time.Second
	DefaultFloor     = 0.01
	DefaultGrace     = 10 * time.Second
	DefaultSmoothing = 1
)

// Config tunes an Allocator; zero fields take the defaults.
type Config struct {
	// EdgeTTL: an edge that has not reported for this long is dead and its share goes to the
	// others at their next reports.
	EdgeTTL time.Duration
	// Floor is the least share of a live edge, of every quota.
	Floor float64
	// Grace is how long an edge keeps its last shares without a newer reply (QuotaReply.GraceMs).
	Grace time.Duration
	// Smoothing is the weight of the newest report in an edge's demand (0 < s ≤ 1). Default 1:
	// an edge's demand is that of its last report (one second of traffic measures it well at
	// any rate a quota matters for), so the shares follow a moved client at the next report;
	// lower values trade that for steadier shares under jittery traffic.
	Smoothing float64
}

// QuotaFunc returns a tenant's quota in events per second and bytes per second (0: unlimited);
// ok is false for an unknown tenant.
type QuotaFunc func(tenant string) (eventsPerSec, bytesPerSec float64, ok bool)

// Allocator keeps the edges' recent demand and computes their shares. Safe for concurrent use.
type Allocator struct {
	cfg    Config
	quotas QuotaFunc

	mu    sync.Mutex
	edges map[string]*edge // by instance
}

type edge struct {
	seen    time.Time
	tenants map[string]*usage
}

// usage is one tenant's smoothed traffic at one edge, per second.
type usage struct {
	offeredEvents, offeredBytes   float64
	admittedEvents, admittedBytes float64
	eventsPerReq, bytesPerReq     float64 // of the last admitted requests
	seen                          time.Time
}

// New returns an Allocator reading quotas from quotas.
func New(cfg Config, quotas QuotaFunc) *Allocator {
	if cfg.EdgeTTL <= 0 {
		cfg.EdgeTTL = DefaultEdgeTTL
	}
	if cfg.Floor <= 0 || cfg.Floor >= 1 {
		cfg.Floor = DefaultFloor
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Smoothing <= 0 || cfg.Smoothing > 1 {
		cfg.Smoothing = DefaultSmoothing
	}
	return &Allocator{cfg: cfg, quotas: quotas, edges: map[string]*edge{}}
}

// Observe takes an edge's report received at now and returns that edge's reply.
func (a *Allocator) Observe(rep *report.Report, now time.Time) *report.QuotaReply {
	secs := float64(rep.End-rep.Start) / 1000
	if secs <= 0.05 { // the first report of an edge covers its start-up; read it as one second
		secs = 1
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)
	e := a.edges[rep.Instance]
	if e == nil {
		e = &edge{tenants: map[string]*usage{}}
		a.edges[rep.Instance] = e
	}
	e.seen = now
	s := a.cfg.Smoothing
	for id, c := range rep.Tenants {
		if c.AdmittedRequests == 0 && c.RefusedRequests == 0 {
			continue
		}
		u := e.tenants[id]
		if u == nil {
			u = &usage{eventsPerReq: 1}
			e.tenants[id] = u
		}
		if c.AdmittedRequests > 0 {
			u.eventsPerReq = float64(c.AdmittedEvents) / float64(c.AdmittedRequests)
			u.bytesPerReq = float64(c.AdmittedBytes) / float64(c.AdmittedRequests)
		}
		// A refused request asked for as much as the admitted ones did, on this edge: the size
		// of its last admitted requests (one event until one was admitted).
		offEv := float64(c.AdmittedEvents) + float64(c.RefusedRequests)*u.eventsPerReq
		offBy := float64(c.AdmittedBytes) + float64(c.RefusedRequests)*u.bytesPerReq
		w := s
		if u.seen.IsZero() {
			w = 1
		}
		u.offeredEvents = (1-w)*u.offeredEvents + w*offEv/secs
		u.offeredBytes = (1-w)*u.offeredBytes + w*offBy/secs
		u.admittedEvents = (1-w)*u.admittedEvents + w*float64(c.AdmittedEvents)/secs
		u.admittedBytes = (1-w)*u.admittedBytes + w*float64(c.AdmittedBytes)/secs
		u.seen = now
	}
	// A tenant this edge has not seen for a while decays to nothing and is forgotten.
	for id, u := range e.tenants {
		if _, ok := rep.Tenants[id]; !ok {
			u.offeredEvents *= 1 - s
			u.offeredBytes *= 1 - s
			u.admittedEvents *= 1 - s
			u.admittedBytes *= 1 - s
			if now.Sub(u.seen) > a.cfg.EdgeTTL*4 {
				delete(e.tenants, id)
			}
		}
	}
	reply := &report.QuotaReply{Edges: len(a.edges), GraceMs: a.cfg.Grace.Milliseconds()}
	for _, id := range a.demanded() {
		shares := a.allocate(id)
		if sh, ok := shares[rep.Instance]; ok {
			if reply.Shares == nil {
				reply.Shares = map[string]float64{}
			}
			reply.Shares[id] = sh
		}
	}
	return reply
}

// expire forgets the edges that have not reported within EdgeTTL. a.mu is held.
func (a *Allocator) expire(now time.Time) {
	for id, e := range a.edges {
		if now.Sub(e.seen) > a.cfg.EdgeTTL {
			delete(a.edges, id)
		}
	}
}

// demanded returns the tenants with a quota and demand at some live edge. a.mu is held.
func (a *Allocator) demanded() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range a.edges {
		for id := range e.tenants {
			if seen[id] {
				continue
			}
			seen[id] = true
			if ev, by, ok := a.quotas(id); ok && (ev > 0 || by > 0) {
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// allocate returns every live edge's share of tenant's quota. a.mu is held.
func (a *Allocator) allocate(tenant string) map[string]float64 {
	qEv, qBy, _ := a.quotas(tenant)
	ids := make([]string, 0, len(a.edges))
	for id := range a.edges {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	n := float64(len(ids))
	demand := make([]float64, len(ids)) // as a fraction of the quota
	for i, id := range ids {
		if u := a.edges[id].tenants[tenant]; u != nil {
			if qEv > 0 {
				demand[i] = u.offeredEvents / qEv
			}
			if qBy > 0 {
				demand[i] = math.Max(demand[i], u.offeredBytes/qBy)
			}
		}
	}
	floor := math.Min(a.cfg.Floor, 1/n)
	shares := waterFill(demand, floor)
	out := make(map[string]float64, len(ids))
	for i, id := range ids {
		out[id] = shares[i]
	}
	return out
}

// waterFill divides 1 between demands (fractions of the quota): floor each, the rest
// max-min fairly over the demand beyond the floor, and what no one asks equally.
func waterFill(demand []float64, floor float64) []float64 {
	n := len(demand)
	shares := make([]float64, n)
	left := 1 - floor*float64(n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
		shares[i] = floor
	}
	slices.SortFunc(order, func(x, y int) int {
		switch {
		case demand[x] < demand[y]:
			return -1
		case demand[x] > demand[y]:
			return 1
		}
		return x - y
	})
	for k, i := range order {
		fair := left / float64(n-k)
		give := math.Min(math.Max(demand[i]-floor, 0), fair)
		shares[i] += give
		left -= give
	}
	if left > 1e-12 {
		for i := range shares {
			shares[i] += left / float64(n)
		}
	}
	return shares
}

// EdgeView is one edge's part of a tenant's global quota.
type EdgeView struct {
	Instance             string  `json:"instance"`
	Share                float64 `json:"share"`
	OfferedEventsPerSec  float64 `json:"offered_events_per_second"`
	AdmittedEventsPerSec float64 `json:"admitted_events_per_second"`
	AdmittedBytesPerSec  float64 `json:"admitted_bytes_per_second"`
}

// TenantView is the fleet's view of one tenant: what ingestctl tenants get shows.
type TenantView struct {
	LiveEdges            int        `json:"live_edges"`
	AdmittedEventsPerSec float64    `json:"admitted_events_per_second"`
	AdmittedBytesPerSec  float64    `json:"admitted_bytes_per_second"`
	Edges                []EdgeView `json:"edges,omitempty"`
}

// Tenant returns the live edges' shares and traffic of tenant at now.
func (a *Allocator) Tenant(tenant string, now time.Time) TenantView {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)
	v := TenantView{LiveEdges: len(a.edges)}
	var shares map[string]float64
	if ev, by, ok := a.quotas(tenant); ok && (ev > 0 || by > 0) && len(a.edges) > 0 {
		shares = a.allocate(tenant)
	}
	for id, e := range a.edges {
		u := e.tenants[tenant]
		if u == nil && shares == nil {
			continue
		}
		ev := EdgeView{Instance: id, Share: shares[id]}
		if u != nil {
			ev.OfferedEventsPerSec, ev.AdmittedEventsPerSec, ev.AdmittedBytesPerSec = u.offeredEvents, u.admittedEvents, u.admittedBytes
		}
		v.AdmittedEventsPerSec += ev.AdmittedEventsPerSec
		v.AdmittedBytesPerSec += ev.AdmittedBytesPerSec
		v.Edges = append(v.Edges, ev)
	}
	slices.SortFunc(v.Edges, func(x, y EdgeView) int {
		if x.Instance < y.Instance {
			return -1
		}
		if x.Instance > y.Instance {
			return 1
		}
		return 0
	})
	return v
}
