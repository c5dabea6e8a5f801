package admission

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
)

// DefaultTenantShare is the fraction of the in-flight bound that one tenant's requests may
// hold together when nothing else is set: the sink writer's default tenant_share.
const DefaultTenantShare = 0.25

// Outcome is the result of Inflight.AcquireFor.
type Outcome uint8

const (
	// Acquired: the bytes are reserved; Release them with ReleaseFor.
	Acquired Outcome = iota
	// Full: the edge holds its whole bound (503 err-ingest-edge-full). Nothing is reserved.
	Full
	// TenantShareFull: the tenant's other requests hold its share of the bound (503
	// err-ingest-edge-tenant-share-full), while the edge still has room. Nothing is reserved.
	TenantShareFull
)

// inflightShards splits the per-tenant map; a power of two.
const inflightShards = 32

// Inflight bounds the request bytes the whole edge holds at once (filterconfig
// Limits.MaxInFlightBytes), and the bytes one tenant's requests hold together to a share of it
// (invariant 3: one bursty or slow tenant must not take the bound from the others). A request
// acquires its body's bytes before it is buffered and releases them when its stream completes.
// Like the Limiter it outlives configuration pushes (SetMax and SetTenantShare apply a new
// bound without forgetting what is held). It is safe for concurrent use and never blocks: a
// full edge, or a tenant at its share, answers 503 with Retry-After at once (invariant 2).
//
// A tenant's share bounds what its requests hold together, not one request: a tenant that holds
// nothing may take any request that fits in the edge, so that no request within
// max_request_body_bytes is refused for ever by a small share. A tenant holds at most its share
// plus one request's bytes.
type Inflight struct {
	max       atomic.Int64
	share     atomic.Uint64 // math.Float64bits of the tenant share
	tenantMax atomic.Int64  // floor(max × share)
	used      atomic.Int64

	seed   maphash.Seed
	shards [inflightShards]inflightShard
}

type inflightShard struct {
	mu       sync.Mutex
	byTenant map[string]int64 // tenants holding bytes; entries are dropped at 0
	_        [48]byte
}

// NewInflight returns an Inflight that admits at most max bytes at once, and at most
// DefaultTenantShare of them per tenant; max <= 0 admits nothing but empty requests.
func NewInflight(max int64) *Inflight {
	f := &Inflight{seed: maphash.MakeSeed()}
	for i := range f.shards {
		f.shards[i].byTenant = make(map[string]int64)
	}
	f.share.Store(math.Float64bits(DefaultTenantShare))
	f.SetMax(max)
	return f
}

// Acquire reserves n bytes that no tenant is charged for (a decompression buffer, held only
// while the worker thread counts the events) and reports true when they fit under the bound with
// what is held already; false means the edge is full (answer 503) and nothing is reserved.
// Acquire(0) is true; a negative n is false. Every true must be matched by one Release(n).
func (f *Inflight) Acquire(n int64) bool {
	if n < 0 {
		return false
	}
	for {
		used := f.used.Load()
		if n > f.max.Load()-used {
			return false
		}
		if f.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// Release returns n bytes reserved by Acquire(n).
func (f *Inflight) Release(n int64) { f.used.Add(-n) }

// AcquireFor reserves n bytes for tenant's request: Acquired when they fit under the edge's
// bound and, unless the tenant holds nothing, under the tenant's share with what its other
// requests hold. Full takes precedence over TenantShareFull when both hold. Nothing is reserved
// unless Acquired; every Acquired must be matched by one ReleaseFor(tenant, n). n = 0 is always
// Acquired and needs no release (it holds nothing); a negative n is Full. It does not
// allocate once the tenant's shard has held bytes for some tenant.
func (f *Inflight) AcquireFor(tenant string, n int64) Outcome {
	return f.GrowFor(tenant, 0, n)
}

// GrowFor reserves n more bytes for a tenant's request that holds own bytes already (a body
// that outgrew its reservation): as AcquireFor, but the request's own bytes do not count as the
// tenant's other requests, so a tenant's only request may grow to anything that fits in the
// edge. own = 0 is AcquireFor. Every Acquired must be matched by one ReleaseFor(tenant, n)
// (or one ReleaseFor of the request's whole reservation).
func (f *Inflight) GrowFor(tenant string, own, n int64) Outcome {
	if n <= 0 {
		if n == 0 {
			return Acquired
		}
		return Full
	}
	sh := f.shard(tenant)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	held := sh.byTenant[tenant]
	if held > own && n > f.tenantMax.Load()-held {
		if n > f.max.Load()-f.used.Load() {
			return Full
		}
		return TenantShareFull
	}
	if !f.Acquire(n) {
		return Full
	}
	sh.byTenant[tenant] = held + n
	return Acquired
}

// ReleaseFor returns n bytes that AcquireFor(tenant, n) reserved.
func (f *Inflight) ReleaseFor(tenant string, n int64) {
	if n <= 0 {
		return
	}
	sh := f.shard(tenant)
	sh.mu.Lock()
	if held := sh.byTenant[tenant] - n; held > 0 {
		sh.byTenant[tenant] = held
	} else {
		delete(sh.byTenant, tenant)
	}
	sh.mu.Unlock()
	f.used.Add(-n)
}

func (f *Inflight) shard(tenant string) *inflightShard {
	return &f.shards[maphash.String(f.seed, tenant)%inflightShards]
}

// SetMax changes the bound (and with it the tenants' share in bytes). Bytes held stay held;
// when they exceed a lowered bound, Acquire fails until enough are released.
func (f *Inflight) SetMax(max int64) {
	f.max.Store(max)
	f.tenantMax.Store(shareOf(max, math.Float64frombits(f.share.Load())))
}

// SetTenantShare changes the fraction of the bound that one tenant's requests may hold
// together; share must be in (0, 1] (the caller validates it: Inflight does not check it). A
// share of 1 bounds a tenant by the edge's bound only.
func (f *Inflight) SetTenantShare(share float64) {
	f.share.Store(math.Float64bits(share))
	f.tenantMax.Store(shareOf(f.max.Load(), share))
}

func shareOf(max int64, share float64) int64 { return int64(float64(max) * share) }

// InUse returns the bytes held now, for a gauge.
func (f *Inflight) InUse() int64 { return f.used.Load() }

// InUseBy returns the bytes tenant's requests hold now.
func (f *Inflight) InUseBy(tenant string) int64 {
	sh := f.shard(tenant)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.byTenant[tenant]
}

// Max returns the bound.
func (f *Inflight) Max() int64 { return f.max.Load() }

// TenantMax returns the bytes one tenant's requests may hold together: the bound times the
// tenant share, rounded down.
func (f *Inflight) TenantMax() int64 { return f.tenantMax.Load() }
