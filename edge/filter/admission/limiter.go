package admission

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/internal/shed"
)

// Reasons of a refused Decision: stable ids of the catalogue (internal/reason, which gives their
// statuses), also the reason label of the filter's counters.
const (
	// ReasonRateLimitedEvents: the tenant's event bucket holds fewer tokens than the request
	// has events (HTTP 429 with Retry-After). The tenant sends less often or asks for a higher
	// events_per_second.
	ReasonRateLimitedEvents = string(reason.TenantRateLimitedEvents)
	// ReasonRateLimitedBytes: the tenant's byte bucket holds fewer tokens than the request
	// body has bytes (HTTP 429 with Retry-After).
	ReasonRateLimitedBytes = string(reason.TenantRateLimitedBytes)
	// ReasonExceedsBurstEvents: the request has more events than the tenant's event bucket can
	// ever hold (burst_events), so no retry can succeed (HTTP 413, no Retry-After). The client
	// splits the batch (OpenTelemetry SDKs and Collectors: a smaller max batch size), or the
	// operator raises burst_events.
	ReasonExceedsBurstEvents = string(reason.RequestExceedsBurstEvents)
	// ReasonExceedsBurstBytes: the request body is larger than the tenant's byte bucket can
	// ever hold (burst_bytes) (HTTP 413, no Retry-After).
	ReasonExceedsBurstBytes = string(reason.RequestExceedsBurstBytes)
)

// Decision is the outcome of Limiter.Admit.
type Decision struct {
	// OK is true when the request is admitted; its tokens are taken.
	OK bool
	// RetryAfter is, for a request refused with a rate-limited reason, the time until the
	// tenant's buckets hold enough tokens for this request, rounded up to the nanosecond (send
	// it with shed.RetryAfterSeconds: whole seconds, rounded up, at least 1), at most
	// shed.MaxRetryAfter however small the rate or large the deficit. It is 0 when OK
	// and when the request exceeds the burst, since waiting cannot help then.
	RetryAfter time.Duration
	// Reason is one of the Reason constants when the request is refused, "" when OK.
	Reason string
}

// Status returns the HTTP status for the decision: 200 when admitted, else its reason's in the
// catalogue: 413 when the request exceeds the tenant's burst (it can never be admitted as it
// is), 429 when the tenant is over its rate (a retry after RetryAfter can succeed).
func (d Decision) Status() int {
	// Numbers rather than net/http's names: the filter's shared object has no other use for
	// net/http.
	if d.OK {
		return 200
	}
	return reason.ID(d.Reason).Status()
}

// Bounds of a Limiter's memory.
const (
	// IdleBucketTTL is how long a tenant's buckets must go unused before they may be dropped.
	// They are dropped only once they have refilled to their burst under the quota last seen,
	// when a fresh bucket (which starts full) behaves exactly the same; so dropping never
	// changes a decision, it only bounds memory for tenants that left the configuration.
	IdleBucketTTL = time.Minute
	// sweepInterval is the least time between two sweeps of a shard for idle buckets. A shard
	// is swept when a tenant's bucket is added to it, so the map grows only with tenants that
	// are in use, and Sweep sweeps all of them.
	sweepInterval = time.Minute
	// limiterShards splits the tenant map; a power of two.
	limiterShards = 64
	// slack is the relative tolerance when tokens are compared with a request, so that float
	// rounding in the refill never refuses a request that the exact arithmetic admits.
	slack = 1e-9
)

// Limiter holds a pair of token buckets per tenant: one of events (refilled at
// events_per_second, holding at most burst_events) and one of body bytes (bytes_per_second,
// burst_bytes). A rate of 0 means unlimited and a burst of 0 means one second of the rate
// ([filterconfig.Quotas]). New buckets start full.
//
// One Limiter serves the whole process and outlives configuration pushes: Admit takes the
// tenant's quota on every call, so a quota change applies to the next request and keeps the
// tokens the tenant has (capped to a lower burst). It is safe for concurrent use and built for
// it: tenants are found in a sharded copy-on-write map with lock-free reads, and each tenant's
// buckets have their own mutex, padded so that two tenants never share a cache line; tenants do
// not contend with each other. There is no goroutine; idle buckets are dropped lazily (see IdleBucketTTL).
type Limiter struct {
	epoch  time.Time
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

type limiterShard struct {
	m         atomic.Pointer[map[string]*bucket] // read without locks, replaced under mu
	mu        sync.Mutex
	lastSweep int64 // nanoseconds since epoch; under mu
	_         [40]byte
}

// bucket is one tenant's pair of token buckets.
type bucket struct {
	mu     sync.Mutex
	dead   bool  // dropped from the map; look the tenant up again
	last   int64 // nanoseconds since the Limiter's epoch of the last refill
	events float64
	bytes  float64
	q      filterconfig.Quotas // the quotas of the last refill
	_      [bucketSize - 72]byte
}

// bucketSize is the size of a bucket: a Go size class whose objects are aligned to it, so that
// a bucket fills whole cache lines (two 64-byte lines, which Intel prefetches as a pair).
const bucketSize = 128

// NewLimiter returns a Limiter with no buckets.
func NewLimiter() *Limiter {
	return &Limiter{epoch: time.Now(), seed: maphash.MakeSeed()}
}

// rateBurst returns the rate and burst of one dimension; a rate of 0 is unlimited.
func rateBurst(rate, burst float64) (float64, float64) {
	if rate <= 0 || math.IsNaN(rate) {
		return 0, 0
	}
	if burst <= 0 || math.IsNaN(burst) {
		burst = rate
	}
	return rate, burst
}

// Admit decides whether tenant may send a request of events events and bytes body bytes (as
// received, compressed or not) at now, under quota q, and takes the tokens when it may. The
// decision is all or nothing: when either bucket is short, neither is charged. Negative counts
// are taken as 0. now should come from time.Now (its monotonic reading makes the refill immune
// to wall-clock steps); a now earlier than a previous call's refills nothing. A tenant with no
// limit at all costs no memory and no lock.
func (l *Limiter) Admit(tenant string, q filterconfig.Quotas, events, bytes int64, now time.Time) Decision {
	return l.decide(tenant, q, 1, events, bytes, now, true)
}

// AdmitShare is Admit for an edge that may admit only share (0 < share ≤ 1) of the tenant's
// quota, its part of a quota that holds across the edges (Shares): the buckets refill at share
// of the rates and hold share of the bursts. A request larger than the whole burst is refused
// as Admit refuses it (413); one within the whole burst but beyond this edge's part of it is
// refused as rate-limited with a Retry-After of a second, since the shares follow demand.
func (l *Limiter) AdmitShare(tenant string, q filterconfig.Quotas, share float64, events, bytes int64, now time.Time) Decision {
	return l.decide(tenant, q, share, events, bytes, now, true)
}

// PeekShare is Peek under a share of the quota (see AdmitShare).
func (l *Limiter) PeekShare(tenant string, q filterconfig.Quotas, share float64, events, bytes int64, now time.Time) Decision {
	return l.decide(tenant, q, share, events, bytes, now, false)
}

// Peek is Admit without taking the tokens: the decision Admit would make now. The edge asks it
// at a request's headers, before the body is read, with the least the request can cost, so
// that a tenant whose bucket cannot cover even that is refused without its body costing
// anything.
func (l *Limiter) Peek(tenant string, q filterconfig.Quotas, events, bytes int64, now time.Time) Decision {
	return l.decide(tenant, q, 1, events, bytes, now, false)
}

// shareRetryAfter is the Retry-After of a request beyond an edge's share of the burst.
const shareRetryAfter = time.Second

// decide is Admit under share of q, taking the tokens when take is true.
func (l *Limiter) decide(tenant string, q filterconfig.Quotas, share float64, events, bytes int64, now time.Time, take bool) Decision {
	evRate, evBurst := rateBurst(q.EventsPerSecond, q.BurstEvents)
	byRate, byBurst := rateBurst(q.BytesPerSecond, q.BurstBytes)
	if evRate == 0 && byRate == 0 {
		return Decision{OK: true}
	}
	ev, by := float64(max(events, 0)), float64(max(bytes, 0))
	switch {
	case evRate > 0 && ev > evBurst:
		return Decision{Reason: ReasonExceedsBurstEvents}
	case byRate > 0 && by > byBurst:
		return Decision{Reason: ReasonExceedsBurstBytes}
	}
	if share > 0 && share < 1 {
		evRate, evBurst, byRate, byBurst = evRate*share, evBurst*share, byRate*share, byBurst*share
		q = filterconfig.Quotas{EventsPerSecond: evRate, BurstEvents: evBurst, BytesPerSecond: byRate, BurstBytes: byBurst}
		switch {
		case evRate > 0 && ev > evBurst:
			return Decision{Reason: ReasonRateLimitedEvents, RetryAfter: shareRetryAfter}
		case byRate > 0 && by > byBurst:
			return Decision{Reason: ReasonRateLimitedBytes, RetryAfter: shareRetryAfter}
		}
	}
	t := int64(now.Sub(l.epoch))
	for {
		b, sh := l.bucket(tenant, t, q)
		b.mu.Lock()
		if b.dead { // a sweep dropped it: look again once the sweep is over
			b.mu.Unlock()
			b = l.addBucket(sh, tenant, t, q)
			b.mu.Lock()
			if b.dead { // dropped again, by a later sweep: start over
				b.mu.Unlock()
				continue
			}
		}
		d := b.admit(t, q, evRate, evBurst, byRate, byBurst, ev, by, take)
		b.mu.Unlock()
		return d
	}
}

// admit refills the buckets to t and, when take is true, takes ev and by tokens if both
// buckets hold enough. b.mu is held.
func (b *bucket) admit(t int64, q filterconfig.Quotas, evRate, evBurst, byRate, byBurst, ev, by float64, take bool) Decision {
	dt := 0.0
	if t > b.last {
		dt = float64(t-b.last) / 1e9
		b.last = t
	}
	b.q = q
	b.events = refill(b.events, evRate, evBurst, dt)
	b.bytes = refill(b.bytes, byRate, byBurst, dt)
	evWait := wait(b.events, evRate, ev)
	byWait := wait(b.bytes, byRate, by)
	switch {
	case evWait == 0 && byWait == 0:
		if !take {
			return Decision{OK: true}
		}
		if evRate > 0 {
			b.events = max(b.events-ev, 0)
		}
		if byRate > 0 {
			b.bytes = max(b.bytes-by, 0)
		}
		return Decision{OK: true}
	case evWait >= byWait:
		return Decision{Reason: ReasonRateLimitedEvents, RetryAfter: evWait}
	}
	return Decision{Reason: ReasonRateLimitedBytes, RetryAfter: byWait}
}

// refill adds dt seconds of rate to tokens, up to burst. An unlimited dimension holds +Inf
// tokens, so that it starts full when it becomes limited.
func refill(tokens, rate, burst, dt float64) float64 {
	if rate == 0 {
		return math.Inf(1)
	}
	return min(tokens+rate*dt, burst)
}

// wait returns how long until tokens reach need at rate, rounded up to the nanosecond (after
// taking off a relative 1e-12 of float rounding, so that an exact 1 ms does not come out as
// 1.000001 ms); 0 when they do already. The wait is at least 1ns and at most
// shed.MaxRetryAfter: a tiny rate (1e-300 per second) or a huge deficit gives the maximum, not
// an overflowed time.Duration.
func wait(tokens, rate, need float64) time.Duration {
	if rate == 0 || tokens >= need*(1-slack) {
		return 0
	}
	return shed.RetryAfterAt((need-tokens)*(1-1e-12), rate)
}

// bucket returns tenant's bucket and shard, adding a full bucket when there is none.
func (l *Limiter) bucket(tenant string, t int64, q filterconfig.Quotas) (*bucket, *limiterShard) {
	sh := &l.shards[maphash.String(l.seed, tenant)%limiterShards]
	if m := sh.m.Load(); m != nil {
		if b := (*m)[tenant]; b != nil {
			return b, sh
		}
	}
	return l.addBucket(sh, tenant, t, q), sh
}

// addBucket returns tenant's bucket from shard sh, adding a full one when there is none, under
// the shard's lock.
func (l *Limiter) addBucket(sh *limiterShard, tenant string, t int64, q filterconfig.Quotas) *bucket {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := sh.m.Load()
	if old != nil {
		if b := (*old)[tenant]; b != nil {
			return b
		}
	}
	evRate, evBurst := rateBurst(q.EventsPerSecond, q.BurstEvents)
	byRate, byBurst := rateBurst(q.BytesPerSecond, q.BurstBytes)
	b := &bucket{last: t, q: q, events: refill(evBurst, evRate, evBurst, 0), bytes: refill(byBurst, byRate, byBurst, 0)}
	sweep := t-sh.lastSweep >= int64(sweepInterval)
	if sweep {
		sh.lastSweep = t
	}
	sh.replace(old, t, sweep, tenant, b)
	return b
}

// replace installs a copy of old without the idle buckets (when sweep is set) and with b added
// as tenant's (when b is not nil). sh.mu is held.
func (sh *limiterShard) replace(old *map[string]*bucket, t int64, sweep bool, tenant string, b *bucket) {
	n := 1
	if old != nil {
		n += len(*old)
	}
	next := make(map[string]*bucket, n)
	if old != nil {
		for k, ob := range *old {
			if sweep && ob.evict(t) {
				continue
			}
			next[k] = ob
		}
	}
	if b != nil {
		next[tenant] = b
	}
	sh.m.Store(&next)
}

// evict marks the bucket dead and reports true when it has been idle for IdleBucketTTL and is
// full at t under the quotas it last saw.
func (b *bucket) evict(t int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	idle := t - b.last
	if idle < int64(IdleBucketTTL) {
		return false
	}
	dt := float64(idle) / 1e9
	evRate, evBurst := rateBurst(b.q.EventsPerSecond, b.q.BurstEvents)
	byRate, byBurst := rateBurst(b.q.BytesPerSecond, b.q.BurstBytes)
	if refill(b.events, evRate, evBurst, dt) < evBurst*(1-slack) || refill(b.bytes, byRate, byBurst, dt) < byBurst*(1-slack) {
		return false
	}
	b.dead = true
	return true
}

// Sweep drops the buckets of every shard that are idle and full at now (see IdleBucketTTL)
// and returns how many tenants still have buckets. Admit sweeps a shard on its own when it
// adds a tenant to it; Sweep is for a caller that wants memory back sooner, e.g. after a
// configuration push removed tenants.
func (l *Limiter) Sweep(now time.Time) int {
	t := int64(now.Sub(l.epoch))
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		if old := sh.m.Load(); old != nil {
			sh.replace(old, t, true, "", nil)
			sh.lastSweep = t
			n += len(*sh.m.Load())
		}
		sh.mu.Unlock()
	}
	return n
}
