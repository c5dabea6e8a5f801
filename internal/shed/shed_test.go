package shed

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

func TestKindsMatchWithErrorsIsThroughWrapping(t *testing.T) {
	full := fmt.Errorf("write: %w", Full("err-ingest-sink-full", 2*time.Second, errors.New("buffer")))
	if !errors.Is(full, ErrFull) || errors.Is(full, ErrUnavailable) {
		t.Errorf("full shed: Is(ErrFull)=%v Is(ErrUnavailable)=%v", errors.Is(full, ErrFull), errors.Is(full, ErrUnavailable))
	}
	var e *Error
	if !errors.As(full, &e) || e.Reason != "err-ingest-sink-full" || e.RetryAfter != 2*time.Second {
		t.Errorf("As: %+v", e)
	}
	un := Unavailable("err-ingest-kafka-unavailable", time.Second, nil)
	if !errors.Is(un, ErrUnavailable) || errors.Is(un, ErrFull) {
		t.Error("unavailable shed matches the wrong kind")
	}
}

func TestRetryAfterSecondsRoundsUpToAtLeastOne(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", 100 * time.Millisecond: "1", time.Second: "1",
		1500 * time.Millisecond: "2", 30 * time.Second: "30"} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestParseRetryAfterFallsBackOnAnythingButSeconds(t *testing.T) {
	for v, want := range map[string]time.Duration{"3": 3 * time.Second, "0": 0, "": time.Minute, "-1": time.Minute,
		"Wed, 21 Oct 2026 07:28:00 GMT": time.Minute, "1.5": time.Minute} {
		if got := ParseRetryAfter(v, time.Minute); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestRetryAfterSecondsIsCappedAtOneHourAndFlooredAtOne(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{math.MinInt64, "1"}, {-time.Hour, "1"}, {-1, "1"}, {1, "1"},
		{time.Second + 1, "2"}, {MaxRetryAfter - time.Second, "3599"}, {MaxRetryAfter - 1, "3600"},
		{MaxRetryAfter, "3600"}, {MaxRetryAfter + 1, "3600"}, {1000 * time.Hour, "3600"}, {math.MaxInt64, "3600"},
	} {
		if got := RetryAfterSeconds(c.d); got != c.want {
			t.Errorf("RetryAfterSeconds(%d) = %q, want %q", int64(c.d), got, c.want)
		}
	}
}

func TestRetryAfterAtStaysWithinOneNanosecondAndMaxRetryAfter(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	for _, c := range []struct {
		deficit, rate float64
		want          time.Duration
	}{
		{1, 1, time.Second},
		{1, 1000, time.Millisecond},
		{1.5, 1, 1500 * time.Millisecond},
		{3600, 1, MaxRetryAfter},
		{3601, 1, MaxRetryAfter},
		{1, 1e-300, MaxRetryAfter},     // tiny rate: the quotient is +Inf
		{1e300, 1, MaxRetryAfter},      // huge deficit
		{1e300, 1e-300, MaxRetryAfter}, // both
		{1e18, 1, MaxRetryAfter},       // finite, but beyond int64 nanoseconds
		{1, 5e-324, MaxRetryAfter},     // smallest denormal
		{1e-300, 1, 1},                 // tiny deficit: still a wait
		{0, 1, 1},
		{-1, 1, 1},
		{inf, 1, MaxRetryAfter},
		{-inf, 1, 1},
		{nan, 1, MaxRetryAfter},
		{1, nan, MaxRetryAfter},
		{1, inf, 1},
		{inf, inf, MaxRetryAfter},
		{1, 0, MaxRetryAfter},
		{1, -1, MaxRetryAfter},
		{1, -inf, MaxRetryAfter},
	} {
		got := RetryAfterAt(c.deficit, c.rate)
		if got != c.want {
			t.Errorf("RetryAfterAt(%g, %g) = %d, want %s", c.deficit, c.rate, int64(got), c.want)
		}
		if h := RetryAfterSeconds(got); h == "" || h == "0" || h[0] == '-' {
			t.Errorf("RetryAfterSeconds(RetryAfterAt(%g, %g)) = %q", c.deficit, c.rate, h)
		}
	}
}
