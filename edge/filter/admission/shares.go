package admission

import (
	"sync/atomic"
	"time"
)

// Shares is this edge's part of each tenant's quota, as the control plane last assigned it
// (controlplane/quotashare; docs/edge.md, "Global quotas"): the limiter's buckets refill at
// share × the tenant's rates and hold share × its bursts (Limiter.AdmitShare).
//
//   - Before the first assignment the share is 1: alone, the edge enforces the whole quota, as
//     an edge without the report stream does.
//   - Within the assignment's grace, a tenant in it has its share and any other tenant 1/edges.
//   - After the grace (the control plane is gone), every tenant has 1/edges of the edges last
//     known: the fleet together then admits about the quota, however the clients spread.
//
// Set replaces the assignment; Share is lock-free and does not allocate. Safe for concurrent
// use.
type Shares struct {
	cur atomic.Pointer[shareSet]
}

type shareSet struct {
	at     time.Time
	grace  time.Duration
	edges  int
	shares map[string]float64
}

// ShareState says where a Share came from.
type ShareState int

// The states of a Share.
const (
	ShareUnassigned ShareState = iota // no assignment yet: 1
	ShareAssigned                     // the assignment, within its grace
	ShareFallback                     // the grace passed: 1/edges
)

// String is the state's metric label.
func (s ShareState) String() string {
	switch s {
	case ShareAssigned:
		return "assigned"
	case ShareFallback:
		return "fallback"
	}
	return "unassigned"
}

// Set records an assignment received at now: the live edges (this one included), each
// tenant's share (tenants absent get 1/edges) and how long it holds without a newer one.
// Shares outside (0, 1] and an edge count below 1 are taken as 1/edges and 1.
func (s *Shares) Set(edges int, shares map[string]float64, grace time.Duration, now time.Time) {
	edges = max(edges, 1)
	m := make(map[string]float64, len(shares))
	for id, v := range shares {
		if v > 0 && v <= 1 {
			m[id] = v
		}
	}
	s.cur.Store(&shareSet{at: now, grace: grace, edges: edges, shares: m})
}

// Share returns the tenant's share at now and where it came from.
func (s *Shares) Share(tenant string, now time.Time) (float64, ShareState) {
	c := s.cur.Load()
	if c == nil {
		return 1, ShareUnassigned
	}
	even := 1 / float64(c.edges)
	if now.Sub(c.at) > c.grace {
		return even, ShareFallback
	}
	if v, ok := c.shares[tenant]; ok {
		return v, ShareAssigned
	}
	return even, ShareAssigned
}

// Snapshot returns the assignment's tenants and shares, the edge count, when it was set and
// its state at now, for metrics; the map is the caller's.
func (s *Shares) Snapshot(now time.Time) (map[string]float64, int, ShareState) {
	c := s.cur.Load()
	if c == nil {
		return nil, 1, ShareUnassigned
	}
	m := make(map[string]float64, len(c.shares))
	st := ShareAssigned
	if now.Sub(c.at) > c.grace {
		st = ShareFallback
	}
	for id, v := range c.shares {
		if st == ShareFallback {
			v = 1 / float64(c.edges)
		}
		m[id] = v
	}
	return m, c.edges, st
}
