package shed

import (
	"errors"
	"math"
	"strconv"
	"time"
)

// Kinds of shedding, matched with errors.Is.
var (
	// ErrFull means a bounded buffer or quota is full; the request may succeed later (HTTP 429).
	ErrFull = errors.New("full")
	// ErrUnavailable means a dependency cannot be reached or did not answer in time (HTTP 503).
	ErrUnavailable = errors.New("unavailable")
)

// Error is a shed with its kind, the stable reason id, and the suggested retry delay.
type Error struct {
	Kind       error         // ErrFull or ErrUnavailable
	Reason     string        // stable id of internal/reason's catalogue, e.g. reason.SinkFull; also the metric label
	RetryAfter time.Duration // > 0; rounded up to whole seconds on the wire
	Cause      error         // optional underlying error
}

func (e *Error) Error() string {
	msg := e.Reason + ": " + e.Kind.Error() + ", retry after " + e.RetryAfter.String()
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrFull) and errors.Is(err, ErrUnavailable) work.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Full returns a shed of kind ErrFull.
func Full(reason string, retryAfter time.Duration, cause error) error {
	return &Error{Kind: ErrFull, Reason: reason, RetryAfter: retryAfter, Cause: cause}
}

// Unavailable returns a shed of kind ErrUnavailable.
func Unavailable(reason string, retryAfter time.Duration, cause error) error {
	return &Error{Kind: ErrUnavailable, Reason: reason, RetryAfter: retryAfter, Cause: cause}
}

// MaxRetryAfter is the longest retry delay this project suggests: RetryAfterSeconds never
// renders more, and RetryAfterAt never returns more. A delay computed from a tiny rate or a
// huge deficit (hours, years, or an overflowing float) is sent as this instead; a client that
// waited that long retries and learns the current delay.
const MaxRetryAfter = time.Hour

// RetryAfterSeconds renders d as the value of a Retry-After header: whole seconds, rounded up,
// from 1 (also for a zero or negative d) to MaxRetryAfter's 3600.
func RetryAfterSeconds(d time.Duration) string {
	s := int64(1)
	switch {
	case d >= MaxRetryAfter:
		s = int64(MaxRetryAfter / time.Second)
	case d > time.Second:
		s = int64((d + time.Second - 1) / time.Second)
	}
	return strconv.FormatInt(s, 10)
}

// RetryAfterAt returns how long a bucket refilling at rate tokens per second takes to gain
// deficit tokens: deficit/rate seconds, rounded up to the nanosecond, at least 1ns and at most
// MaxRetryAfter. Inputs that give no finite delay (a rate of 0, NaN or below 0, a deficit of
// NaN or +Inf, or a quotient beyond MaxRetryAfter, e.g. a rate of 1e-300) give MaxRetryAfter; a
// deficit of 0 or less gives 1ns, since the caller refuses only when there is a deficit.
func RetryAfterAt(deficit, rate float64) time.Duration {
	if deficit <= 0 && !math.IsNaN(deficit) {
		return 1
	}
	ns := deficit / rate * 1e9
	if !(ns < float64(MaxRetryAfter)) || rate <= 0 { // also NaN
		return MaxRetryAfter
	}
	return max(time.Duration(math.Ceil(ns)), 1)
}

// ParseRetryAfter parses a Retry-After header in delta-seconds (the only form this project
// sends). It returns def when the header is empty or not a non-negative integer.
func ParseRetryAfter(v string, def time.Duration) time.Duration {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return def
	}
	return time.Duration(n) * time.Second
}
