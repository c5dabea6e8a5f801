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

// RetryAfterSeconds renders d as the value of a Retry-After header: whole seconds, rounded up,
// at least 1.
func RetryAfterSeconds(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
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
