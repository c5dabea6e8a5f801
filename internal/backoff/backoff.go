package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Defaults of a Policy's zero fields.
const (
	DefaultMin = 100 * time.Millisecond
	DefaultMax = 10 * time.Second
)

// Policy is exponential backoff with full jitter between Min and Max. The zero Policy waits
// DefaultMin, doubling up to DefaultMax.
type Policy struct {
	// Min is the first wait and the shortest of any wait. Zero (or negative) means DefaultMin.
	Min time.Duration
	// Max caps every wait. Zero (or negative) means DefaultMax, or Min when Min is larger; a
	// Max below Min is raised to Min (every wait is then Min).
	Max time.Duration
}

// bounds returns Min and Max with the zero values and limits applied.
func (p Policy) bounds() (lo, hi time.Duration) {
	lo, hi = p.Min, p.Max
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi <= 0 {
		hi = DefaultMax
	}
	return lo, max(hi, lo)
}

// Cap returns the longest wait before retry attempt+1: min(Max, Min×2^attempt), and Min for a
// negative attempt. It never overflows, whatever attempt is.
func (p Policy) Cap(attempt int) time.Duration {
	lo, hi := p.bounds()
	c := lo
	for i := 0; i < attempt && c < hi; i++ {
		if c > hi/2 {
			return hi
		}
		c *= 2
	}
	return min(c, hi)
}

// Delay returns the wait before retry attempt+1, drawn uniformly from [Min, Cap(attempt)]
// with math/rand/v2 (safe for concurrent use). A negative attempt counts as 0.
func (p Policy) Delay(attempt int) time.Duration {
	return p.DelayFrom(attempt, rand.Uint64())
}

// DelayFrom is Delay with the random draw given: rnd, uniformly distributed over the uint64s,
// picks the wait (rnd mod the range's size, a negligible bias for ranges far below 2^64). Use
// it when the random source is injected (deterministic tests).
func (p Policy) DelayFrom(attempt int, rnd uint64) time.Duration {
	lo, _ := p.bounds()
	c := p.Cap(attempt)
	if c <= lo {
		return lo
	}
	return lo + time.Duration(rnd%uint64(c-lo+1))
}

// Wait sleeps for Delay(attempt) or until ctx is done, whichever comes first. It returns nil
// after the whole wait, and ctx's cause when ctx ended first (at once if it has already).
func (p Policy) Wait(ctx context.Context, attempt int) error {
	return Sleep(ctx, p.Delay(attempt))
}

// Sleep waits d or until ctx is done. It returns nil after the whole wait, and ctx's cause when
// ctx ended first (at once if it has already, even for d ≤ 0).
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
