package admission

import "sync/atomic"

// Inflight bounds the request bytes the whole edge holds at once (filterconfig
// Limits.MaxInFlightBytes): a request acquires its body's bytes before it is buffered and
// releases them when its stream completes. Like the Limiter it outlives configuration pushes
// (SetMax applies a new bound without forgetting what is held). It is safe for concurrent use
// and never blocks: a full edge answers 503 with Retry-After at once (invariant 2).
type Inflight struct {
	max  atomic.Int64
	used atomic.Int64
}

// NewInflight returns an Inflight that admits at most max bytes at once; max <= 0 admits
// nothing but empty requests.
func NewInflight(max int64) *Inflight {
	f := &Inflight{}
	f.max.Store(max)
	return f
}

// Acquire reserves n bytes and reports true when they fit under the bound with what is held
// already; false means the edge is full (answer 503) and nothing is reserved. Acquire(0) is
// true; a negative n is false. Every true must be matched by one Release(n).
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

// SetMax changes the bound. Bytes held stay held; when they exceed a lowered bound, Acquire
// fails until enough are released.
func (f *Inflight) SetMax(max int64) { f.max.Store(max) }

// InUse returns the bytes held now, for a gauge.
func (f *Inflight) InUse() int64 { return f.used.Load() }

// Max returns the bound.
func (f *Inflight) Max() int64 { return f.max.Load() }
