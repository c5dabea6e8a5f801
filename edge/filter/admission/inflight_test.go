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
