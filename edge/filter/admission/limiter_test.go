package admission

import (
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/shed"
)

// admit is one Admit call and what it must decide.
type admit struct {
	at             time.Duration // after t0
	events, bytes  int64
	ok             bool
	reason         string
	retryAfter     time.Duration
	retryAfterHTTP string // the Retry-After header, when refused for the rate
}

func run(t *testing.T, l *Limiter, tenant string, q filterconfig.Quotas, steps []admit) {
	t.Helper()
	for i, s := range steps {
		d := l.Admit(tenant, q, s.events, s.bytes, t0.Add(s.at))
		if d.OK != s.ok || d.Reason != s.reason || d.RetryAfter != s.retryAfter {
			t.Errorf("step %d (%+v): Admit = %+v", i, s, d)
		}
		if s.retryAfterHTTP != "" && shed.RetryAfterSeconds(d.RetryAfter) != s.retryAfterHTTP {
			t.Errorf("step %d: Retry-After %q, want %q", i, shed.RetryAfterSeconds(d.RetryAfter), s.retryAfterHTTP)
		}
	}
}

func TestAdmitBurstThenRate(t *testing.T) {
	q := filterconfig.Quotas{EventsPerSecond: 10, BurstEvents: 10}
	steps := []admit{}
	for range 10 {
		steps = append(steps, admit{events: 1, ok: true})
	}
	steps = append(steps,
		admit{events: 1, reason: ReasonRateLimitedEvents, retryAfter: 100 * time.Millisecond, retryAfterHTTP: "1"},
		admit{at: 99 * time.Millisecond, events: 1, reason: ReasonRateLimitedEvents, retryAfter: time.Millisecond},
		admit{at: 100 * time.Millisecond, events: 1, ok: true},
		admit{at: 100 * time.Millisecond, events: 1, reason: ReasonRateLimitedEvents, retryAfter: 100 * time.Millisecond},
		admit{at: 10 * time.Second, events: 10, ok: true}, // full again, not more
		admit{at: 10 * time.Second, events: 1, reason: ReasonRateLimitedEvents, retryAfter: 100 * time.Millisecond},
	)
	run(t, NewLimiter(), "acme", q, steps)
}

func TestAdmitRetryAfterIsTheWaitForThisRequest(t *testing.T) {
	run(t, NewLimiter(), "acme", filterconfig.Quotas{EventsPerSecond: 10, BurstEvents: 10}, []admit{
		{events: 10, ok: true},
		{events: 5, reason: ReasonRateLimitedEvents, retryAfter: 500 * time.Millisecond, retryAfterHTTP: "1"},
		{at: 500 * time.Millisecond, events: 5, ok: true},
	})
	run(t, NewLimiter(), "acme", filterconfig.Quotas{EventsPerSecond: 1, BurstEvents: 100}, []admit{
		{events: 100, ok: true},
		{at: 10 * time.Second, events: 60, reason: ReasonRateLimitedEvents, retryAfter: 50 * time.Second, retryAfterHTTP: "50"},
		{at: 10*time.Second + 1500*time.Millisecond, events: 60, reason: ReasonRateLimitedEvents, retryAfter: 48500 * time.Millisecond, retryAfterHTTP: "49"},
	})
}

func TestAdmitBytesBucket(t *testing.T) {
	q := filterconfig.Quotas{BytesPerSecond: 1000} // burst 0: one second of the rate
	run(t, NewLimiter(), "acme", q, []admit{
		{events: 1_000_000, bytes: 600, ok: true}, // events are unlimited
		{bytes: 600, reason: ReasonRateLimitedBytes, retryAfter: 200 * time.Millisecond, retryAfterHTTP: "1"},
		{at: 200 * time.Millisecond, bytes: 600, ok: true},
		{at: 200 * time.Millisecond, bytes: 1001, reason: ReasonExceedsBurstBytes},
	})
}

func TestAdmitIsAllOrNothing(t *testing.T) {
	q := filterconfig.Quotas{EventsPerSecond: 0.001, BurstEvents: 10, BytesPerSecond: 100, BurstBytes: 100}
	run(t, NewLimiter(), "acme", q, []admit{
		{events: 1, bytes: 100, ok: true}, // 9 events and 0 bytes left
		{events: 9, bytes: 50, reason: ReasonRateLimitedBytes, retryAfter: 500 * time.Millisecond},
		{at: 500 * time.Millisecond, events: 9, bytes: 50, ok: true}, // the refusal took no events
		{at: time.Second, events: 1, bytes: 10, reason: ReasonRateLimitedEvents, retryAfter: 999 * time.Second},
		{at: time.Second, bytes: 50, ok: true}, // ... and no bytes
	})
}

func TestAdmitRequestLargerThanTheBurstCanNeverPass(t *testing.T) {
	l := NewLimiter()
	q := filterconfig.Quotas{EventsPerSecond: 10, BytesPerSecond: 1000, BurstBytes: 5000}
	for _, tc := range []struct {
		events, bytes int64
		reason        string
	}{
		{11, 0, ReasonExceedsBurstEvents}, // burst 0 is one second of the rate
		{1, 5001, ReasonExceedsBurstBytes},
	} {
		d := l.Admit("acme", q, tc.events, tc.bytes, t0)
		if d.OK || d.Reason != tc.reason || d.RetryAfter != 0 || d.Status() != http.StatusRequestEntityTooLarge {
			t.Errorf("Admit(%d events, %d bytes) = %+v, status %d; want %s, 413", tc.events, tc.bytes, d, d.Status(), tc.reason)
		}
	}
	if d := l.Admit("acme", q, 10, 5000, t0); !d.OK || d.Status() != http.StatusOK {
		t.Errorf("a request of exactly the burst: %+v; the refusals took tokens", d)
	}
	if d := l.Admit("acme", q, 1, 0, t0); d.Status() != http.StatusTooManyRequests {
		t.Errorf("over the rate: status %d, want 429", d.Status())
	}
}

func TestAdmitQuotaChangeAppliesAtOnceAndKeepsTokens(t *testing.T) {
	l := NewLimiter()
	q := filterconfig.Quotas{EventsPerSecond: 10, BurstEvents: 10}
	run(t, l, "acme", q, []admit{{events: 4, ok: true}}) // 6 left
	q.BurstEvents = 8                                    // higher than what is left: kept
	run(t, l, "acme", q, []admit{
		{events: 7, reason: ReasonRateLimitedEvents, retryAfter: 100 * time.Millisecond},
		{events: 6, ok: true},
	})
	q.EventsPerSecond = 100 // a faster refill from now on
	run(t, l, "acme", q, []admit{{at: 10 * time.Millisecond, events: 1, ok: true}})
	q.BurstEvents = 2 // lower than what the refill would give: capped
	run(t, l, "acme", q, []admit{
		{at: 10 * time.Second, events: 2, ok: true},
		{at: 10 * time.Second, events: 1, reason: ReasonRateLimitedEvents, retryAfter: 10 * time.Millisecond},
	})
}

func TestAdmitZeroRateIsUnlimited(t *testing.T) {
	l := NewLimiter()
	for range 3 {
		if d := l.Admit("acme", filterconfig.Quotas{BurstEvents: 1, BurstBytes: 1}, 1<<40, 1<<50, t0); !d.OK {
			t.Fatalf("unlimited tenant refused: %+v", d)
		}
	}
	if n := l.Sweep(t0); n != 0 {
		t.Errorf("an unlimited tenant holds buckets: %d", n)
	}
	// Limited from now on: starts with a full bucket.
	run(t, l, "acme", filterconfig.Quotas{EventsPerSecond: 5}, []admit{
		{events: 5, ok: true},
		{events: 1, reason: ReasonRateLimitedEvents, retryAfter: 200 * time.Millisecond},
	})
}

func TestAdmitRefillsNothingWhenTheClockGoesBack(t *testing.T) {
	run(t, NewLimiter(), "acme", filterconfig.Quotas{EventsPerSecond: 10}, []admit{
		{at: time.Hour, events: 10, ok: true},
		{at: 0, events: 1, reason: ReasonRateLimitedEvents, retryAfter: 100 * time.Millisecond},
		{at: time.Hour + 100*time.Millisecond, events: 1, ok: true},
	})
}

func TestAdmitKeepsTenantsApart(t *testing.T) {
	l := NewLimiter()
	q := filterconfig.Quotas{EventsPerSecond: 10}
	run(t, l, "acme", q, []admit{{events: 10, ok: true}, {events: 1, reason: ReasonRateLimitedEvents, retryAfter: 100 * time.Millisecond}})
	run(t, l, "globex", q, []admit{{events: 10, ok: true}})
}

// TestAdmitConcurrentlyNeverExceedsTheRate hammers a few tenants from many goroutines on the
// real clock and checks that each was admitted at most burst + rate × elapsed events.
func TestAdmitConcurrentlyNeverExceedsTheRate(t *testing.T) {
	const rate, burst = 2000.0, 100.0
	q := filterconfig.Quotas{EventsPerSecond: rate, BurstEvents: burst, BytesPerSecond: 1e9}
	tenants := []string{"acme", "globex", "initech"}
	l := NewLimiter()
	var admitted [3]atomic.Int64
	start := time.Now()
	deadline := start.Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				k := (g + i) % len(tenants)
				n := int64(1 + i%3)
				if d := l.Admit(tenants[k], q, n, 100, time.Now()); d.OK {
					admitted[k].Add(n)
				}
			}
		})
	}
	wg.Wait()
	bound := burst + rate*time.Since(start).Seconds()
	for k := range tenants {
		if got := float64(admitted[k].Load()); got > bound*(1+1e-6) || got < burst {
			t.Errorf("%s: %v events admitted; the bound is %v (at least the burst)", tenants[k], got, bound)
		}
	}
}

func TestIdleBucketsAreDroppedOnlyWhenFull(t *testing.T) {
	l := NewLimiter()
	fast := filterconfig.Quotas{EventsPerSecond: 10}
	slow := filterconfig.Quotas{EventsPerSecond: 0.001, BurstEvents: 1}
	l.Admit("fast", fast, 10, 0, t0)
	l.Admit("slow", slow, 1, 0, t0)
	if n := l.Sweep(t0.Add(IdleBucketTTL - time.Nanosecond)); n != 2 {
		t.Fatalf("%d tenants with buckets before the TTL, want 2", n)
	}
	// slow needs 1000 s to refill: dropping it would hand it a full bucket.
	if n := l.Sweep(t0.Add(IdleBucketTTL)); n != 1 {
		t.Fatalf("%d tenants with buckets after the TTL, want 1 (slow)", n)
	}
	run(t, l, "slow", slow, []admit{{at: IdleBucketTTL, events: 1, reason: ReasonRateLimitedEvents, retryAfter: 940 * time.Second}})
	if n := l.Sweep(t0.Add(500 * time.Second)); n != 1 { // idle since t0+TTL, half full
		t.Fatalf("%d tenants with buckets, want 1", n)
	}
	if n := l.Sweep(t0.Add(1000 * time.Second)); n != 0 { // full
		t.Fatalf("%d tenants with buckets, want 0", n)
	}
	run(t, l, "fast", fast, []admit{{at: 2000 * time.Second, events: 10, ok: true}})
}

func TestAdmitSweepsAShardWhenItAddsATenant(t *testing.T) {
	l := NewLimiter()
	q := filterconfig.Quotas{EventsPerSecond: 10}
	for i := range 1000 {
		l.Admit(base32ish(i), q, 1, 0, t0)
	}
	// An hour later, new tenants arrive; each shard they land in is swept of the idle ones.
	for i := range 1000 {
		l.Admit(base32ish(i+1000), q, 1, 0, t0.Add(time.Hour))
	}
	if n := l.Sweep(t0.Add(time.Hour)); n != 1000 {
		t.Errorf("%d tenants with buckets, want the 1000 new ones", n)
	}
}

func TestAdmitRacesWithSweeps(t *testing.T) {
	l := NewLimiter()
	q := filterconfig.Quotas{EventsPerSecond: 1e6}
	var wg sync.WaitGroup
	var now atomic.Int64 // minutes after t0
	for g := range 4 {
		wg.Go(func() {
			for i := range 3000 {
				at := t0.Add(time.Duration(now.Load()) * time.Minute)
				if d := l.Admit(base32ish(g*10+i%10), q, 1, 0, at); !d.OK {
					t.Errorf("refused: %+v", d)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			l.Sweep(t0.Add(time.Duration(now.Add(2)) * time.Minute))
		}
	})
	wg.Wait()
}

func TestAdmitDoesNotAllocate(t *testing.T) {
	l := NewLimiter()
	q := filterconfig.Quotas{EventsPerSecond: 1e9}
	l.Admit("acme", q, 1, 1, t0)
	if n := testing.AllocsPerRun(100, func() { l.Admit("acme", q, 1, 1, t0) }); n != 0 {
		t.Errorf("Admit allocates %v times", n)
	}
}

func TestBucketFillsWholeCacheLines(t *testing.T) {
	if s := unsafe.Sizeof(bucket{}); s != bucketSize || bucketSize%64 != 0 {
		t.Errorf("a bucket is %d bytes, want %d, a multiple of 64", s, bucketSize)
	}
}

func TestRetryAfterIsCappedForTinyRatesAndHugeDeficits(t *testing.T) {
	f := func(name string, q filterconfig.Quotas, events, bytes int64) {
		t.Helper()
		l := NewLimiter()
		if d := l.Admit(name, q, events, bytes, t0); !d.OK {
			t.Fatalf("%s: the first request, which empties the bucket, is refused: %+v", name, d)
		}
		d := l.Admit(name, q, events, bytes, t0)
		if d.OK || d.RetryAfter != shed.MaxRetryAfter {
			t.Errorf("%s: Admit = %+v, want refused with RetryAfter %s", name, d, shed.MaxRetryAfter)
		}
		if h := shed.RetryAfterSeconds(d.RetryAfter); h != "3600" {
			t.Errorf("%s: Retry-After %q, want 3600", name, h)
		}
	}
	f("tiny event rate", filterconfig.Quotas{EventsPerSecond: 1e-300, BurstEvents: 10}, 10, 0)
	f("tiny byte rate", filterconfig.Quotas{BytesPerSecond: 5e-324, BurstBytes: 1000}, 0, 1000)
	f("huge byte deficit", filterconfig.Quotas{BytesPerSecond: 1, BurstBytes: 1e19}, 0, math.MaxInt64)
	f("deficit of a few years", filterconfig.Quotas{EventsPerSecond: 1, BurstEvents: 1e9}, 1e9, 0)
}
