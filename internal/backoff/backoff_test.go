package backoff_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/backoff"
)

func TestDelayIsWithinMinAndADoublingCap(t *testing.T) {
	p := backoff.Policy{Min: 10 * time.Millisecond, Max: time.Second}
	for attempt := range 20 {
		hi := min(p.Max, p.Min<<attempt)
		if got := p.Cap(attempt); got != hi {
			t.Errorf("Cap(%d) = %v, want %v", attempt, got, hi)
		}
		for range 200 {
			if d := p.Delay(attempt); d < p.Min || d > hi {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", attempt, d, p.Min, hi)
			}
		}
	}
}

func TestFirstDelayIsMinAndNegativeAttemptCountsAsZero(t *testing.T) {
	p := backoff.Policy{Min: 10 * time.Millisecond, Max: time.Second}
	for _, attempt := range []int{0, -1, math.MinInt} {
		if d := p.Delay(attempt); d != p.Min {
			t.Errorf("Delay(%d) = %v, want Min %v", attempt, d, p.Min)
		}
	}
}

func TestDelayIsCappedAtMaxAndNeverOverflows(t *testing.T) {
	for _, p := range []backoff.Policy{
		{Min: 10 * time.Millisecond, Max: time.Second},
		{Min: time.Hour, Max: math.MaxInt64}, // Min×2^attempt overflows int64 at attempt 22
		{Min: 1, Max: math.MaxInt64},         // overflows at attempt 63
		{Min: math.MaxInt64 / 3, Max: math.MaxInt64},
	} {
		for _, attempt := range []int{30, 31, 62, 63, 64, 1000, math.MaxInt} {
			if c := p.Cap(attempt); c <= 0 || c > p.Max {
				t.Errorf("%+v: Cap(%d) = %v, want within (0, %v]", p, attempt, c, p.Max)
			}
			for _, rnd := range []uint64{0, 1, math.MaxUint64} {
				if d := p.DelayFrom(attempt, rnd); d < p.Min || d > p.Max {
					t.Errorf("%+v: DelayFrom(%d, %d) = %v, want within [%v, %v]", p, attempt, rnd, d, p.Min, p.Max)
				}
			}
		}
	}
	p := backoff.Policy{Min: 10 * time.Millisecond, Max: time.Second}
	if c := p.Cap(1000); c != time.Second {
		t.Errorf("Cap(1000) = %v, want Max", c)
	}
}

func TestDelaySpreadsOverTheWholeRange(t *testing.T) {
	p := backoff.Policy{Min: 0 + time.Millisecond, Max: 1025 * time.Millisecond}
	const attempt = 10 // Cap = Max: the range is [1ms, 1025ms]
	var buckets [8]int
	const n = 8000
	for range n {
		d := p.Delay(attempt)
		buckets[min(int((d-p.Min)*8/(p.Max-p.Min+1)), 7)]++
	}
	for i, c := range buckets {
		if c < n/8/2 || c > n/8*2 { // uniform: n/8 each; this bound fails with negligible probability
			t.Errorf("bucket %d of 8 holds %d of %d delays: not spread uniformly: %v", i, c, n, buckets)
		}
	}
}

func TestDelayFromIsDeterministic(t *testing.T) {
	p := backoff.Policy{Min: 100, Max: 1000}
	if a, b := p.DelayFrom(3, 12345), p.DelayFrom(3, 12345); a != b {
		t.Errorf("DelayFrom(3, 12345) = %v and %v", a, b)
	}
	if d := p.DelayFrom(3, 0); d != p.Min {
		t.Errorf("DelayFrom(3, 0) = %v, want Min", d)
	}
	if d := p.DelayFrom(3, 700); d != p.Cap(3) {
		t.Errorf("DelayFrom(3, 700) = %v, want the cap %v (700 mod 701 = 700)", d, p.Cap(3))
	}
}

func TestZeroPolicyUsesDefaults(t *testing.T) {
	var p backoff.Policy
	if d := p.Delay(0); d != backoff.DefaultMin {
		t.Errorf("zero Policy Delay(0) = %v, want DefaultMin %v", d, backoff.DefaultMin)
	}
	if c := p.Cap(100); c != backoff.DefaultMax {
		t.Errorf("zero Policy Cap(100) = %v, want DefaultMax %v", c, backoff.DefaultMax)
	}
}

func TestMaxBelowMinWaitsMin(t *testing.T) {
	p := backoff.Policy{Min: time.Second, Max: time.Millisecond}
	for _, attempt := range []int{0, 5, 1000} {
		if d := p.Delay(attempt); d != time.Second {
			t.Errorf("Delay(%d) = %v, want Min", attempt, d)
		}
	}
	p = backoff.Policy{Min: time.Minute} // Max zero: DefaultMax, below Min
	if d := p.Delay(10); d != time.Minute {
		t.Errorf("Min above DefaultMax: Delay(10) = %v, want Min", d)
	}
}

func TestWaitReturnsAfterTheDelay(t *testing.T) {
	p := backoff.Policy{Min: 20 * time.Millisecond, Max: 20 * time.Millisecond}
	start := time.Now()
	if err := p.Wait(context.Background(), 3); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("Wait returned after %v, before the 20ms delay", d)
	}
}

func TestWaitReturnsTheCauseWhenCtxEnds(t *testing.T) {
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	p := backoff.Policy{Min: time.Hour, Max: time.Hour}
	if err := p.Wait(ctx, 0); !errors.Is(err, cause) {
		t.Errorf("Wait on an ended ctx = %v, want its cause", err)
	}
	if err := backoff.Sleep(ctx, 0); !errors.Is(err, cause) {
		t.Errorf("Sleep(0) on an ended ctx = %v, want its cause", err)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if err := p.Wait(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait past the deadline = %v, want DeadlineExceeded", err)
	}
}

func BenchmarkDelay(b *testing.B) {
	p := backoff.Policy{Min: 10 * time.Millisecond, Max: time.Minute}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = p.Delay(i & 63)
	}
}
