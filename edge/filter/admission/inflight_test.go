package admission

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestInflightBoundsTheBytesHeld(t *testing.T) {
	f := NewInflight(100)
	for _, tc := range []struct {
		acquire int64
		ok      bool
		inUse   int64
	}{
		{60, true, 60}, {41, false, 60}, {40, true, 100}, {0, true, 100}, {1, false, 100}, {-1, false, 100},
	} {
		if ok := f.Acquire(tc.acquire); ok != tc.ok || f.InUse() != tc.inUse {
			t.Errorf("Acquire(%d) = %v with %d held; want %v with %d", tc.acquire, ok, f.InUse(), tc.ok, tc.inUse)
		}
	}
	f.Release(60)
	if !f.Acquire(60) || f.InUse() != 100 {
		t.Errorf("after Release(60): %d held", f.InUse())
	}
	if f.Acquire(101) {
		t.Error("a request larger than the bound was admitted")
	}
	f.SetMax(50) // lowered below what is held: nothing fits until enough is released
	if f.Acquire(1) || f.Max() != 50 {
		t.Error("Acquire succeeded above a lowered bound")
	}
	f.Release(60)
	if !f.Acquire(10) || f.InUse() != 50 {
		t.Errorf("after releasing below the new bound: %d held", f.InUse())
	}
}

func TestInflightConcurrently(t *testing.T) {
	const max = 1 << 20
	f := NewInflight(max)
	var over atomic.Bool
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20000 {
				n := int64(1 + (g*7919+i*104729)%(max/4))
				if f.Acquire(n) {
					if f.InUse() > max {
						over.Store(true)
					}
					f.Release(n)
				}
			}
		})
	}
	wg.Wait()
	if over.Load() || f.InUse() != 0 {
		t.Errorf("bound exceeded: %v; %d bytes held at the end, want 0", over.Load(), f.InUse())
	}
}

// Invariant 3: with a bound of 100 and a share of 0.25, tenant a holding 25 is refused more
// (TenantShareFull) while b still gets in; a tenant holding nothing may take one request above
// its share; Full takes precedence when the edge has no room either.
func TestInflightTenantShare(t *testing.T) {
	f := NewInflight(100)
	if f.TenantMax() != 25 {
		t.Fatalf("TenantMax = %d, want 25 (DefaultTenantShare of 100)", f.TenantMax())
	}
	for i, tc := range []struct {
		tenant string
		n      int64
		want   Outcome
	}{
		{"a", 25, Acquired}, {"a", 1, TenantShareFull}, {"b", 20, Acquired}, {"b", 5, Acquired}, {"b", 1, TenantShareFull},
		{"c", 40, Acquired}, // holds nothing: one request above the share fits
		{"c", 1, TenantShareFull}, {"d", 11, Full}, {"d", 10, Acquired}, {"e", 1, Full}, {"a", 0, Acquired},
	} {
		if got := f.AcquireFor(tc.tenant, tc.n); got != tc.want {
			t.Errorf("%d: AcquireFor(%q, %d) = %v, want %v (held %d, tenant %d)", i, tc.tenant, tc.n, got, tc.want, f.InUse(), f.InUseBy(tc.tenant))
		}
	}
	f.ReleaseFor("a", 25)
	if f.InUseBy("a") != 0 || f.InUse() != 75 || f.AcquireFor("a", 20) != Acquired {
		t.Errorf("after a's release: a holds %d, %d held in all", f.InUseBy("a"), f.InUse())
	}
	f.SetTenantShare(1)
	if f.TenantMax() != 100 || f.AcquireFor("a", 5) != Acquired {
		t.Errorf("share 1: TenantMax %d, a refused with %d held", f.TenantMax(), f.InUse())
	}
}

func TestInflightTenantShareConcurrently(t *testing.T) {
	const max, n = 1 << 20, 1000
	f := NewInflight(max)
	var over atomic.Bool
	var wg sync.WaitGroup
	for g := range 8 {
		tenant := string(rune('a' + g%2))
		wg.Go(func() {
			for range 5000 {
				if f.AcquireFor(tenant, n) == Acquired {
					if held := f.InUseBy(tenant); held > f.TenantMax()+n || f.InUse() > max {
						over.Store(true)
					}
					f.ReleaseFor(tenant, n)
				}
			}
		})
	}
	wg.Wait()
	if over.Load() || f.InUse() != 0 || f.InUseBy("a") != 0 {
		t.Errorf("bound exceeded: %v; %d bytes held at the end, want 0", over.Load(), f.InUse())
	}
}

func TestAcquireForDoesNotAllocate(t *testing.T) {
	f := NewInflight(100)
	f.AcquireFor("acme", 1)
	f.ReleaseFor("acme", 1)
	if n := testing.AllocsPerRun(100, func() { f.AcquireFor("acme", 10); f.ReleaseFor("acme", 10) }); n != 0 {
		t.Errorf("AcquireFor and ReleaseFor allocate %v times", n)
	}
}
