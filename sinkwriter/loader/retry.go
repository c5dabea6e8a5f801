package loader

import (
	"errors"
	"log/slog"

	"github.com/ingestdev/ingest/internal/backoff"
)

// errRetry means a step failed transiently: the loader keeps its state, lets a pending
// rebalance through, waits a backoff and tries again.
var errRetry = errors.New("transient failure, retrying")

// retries counts the failed attempts of the step the loader is retrying (a ledger read, an
// INSERT, a dead-letter write) until one succeeds: the count picks the backoff and thins the
// log. The consumer loop and its flusher share one, on the loop's goroutine (not safe for
// concurrent use).
type retries struct {
	log *slog.Logger
	n   int // failed attempts since the last success
}

// fail counts a failed attempt, logs it (the first, then every tenth, so that an outage is a
// few lines, not one per backoff) and returns errRetry.
func (r *retries) fail(msg string, err error, args ...any) error {
	r.n++
	if r.n == 1 || r.n%10 == 0 {
		r.log.Warn(msg+", retrying", append(args, "attempt", r.n, "err", err)...)
	}
	return errRetry
}

// recovered ends a run of failed attempts, logging it if there was one.
func (r *retries) recovered() {
	if r.n > 0 {
		r.log.Info("recovered", "failed_attempts", r.n)
		r.n = 0
	}
}

// retryPolicy is the loader's backoff between attempts: RetryMin..RetryMax.
func retryPolicy(cfg Config) backoff.Policy {
	return backoff.Policy{Min: cfg.RetryMin, Max: cfg.RetryMax}
}
