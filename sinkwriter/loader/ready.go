package loader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of Ready, joined when several apply. Test with errors.Is.
var (
	// ErrNotRunning is returned before Run has opened ClickHouse, and after Run returned.
	ErrNotRunning = errors.New("the loader is not running")
	// ErrNotInGroup is returned until the loader has joined its consumer group (its first
	// assignment, which may hold no partition), and after its membership was lost (until it
	// is assigned again), while there is a topic to consume. While it migrates the schema at
	// start it is not in the group yet. A loader whose consumer runs but finds no topic
	// matching topic_regex (a new pipeline, before the first tenant's topic) has nothing to
	// join for, and is not refused for it: franz-go joins the group only once a topic matches.
	ErrNotInGroup = errors.New("not in the consumer group")
	// ErrClickHouseUnavailable is returned when ClickHouse did not answer a ping within the
	// caller's context and readyPingTimeout, wrapping the ping's error.
	ErrClickHouseUnavailable = errors.New("no answer from ClickHouse to a ping")
)

const (
	// readyPingTTL is how long Ready reuses a ping's result, so that polling /readyz costs at
	// most one ping a second.
	readyPingTTL = time.Second
	// readyPingTimeout bounds one ping, within the caller's context.
	readyPingTimeout = 2 * time.Second
)

// Ready reports whether the loader can load: nil when it is in its consumer group (it had an
// assignment, possibly of no partition, and has not lost its membership since), holds no
// topic for an incarnation conflict, and ClickHouse answers a ping. Otherwise it returns
// ErrNotRunning, or ErrNotInGroup, ErrTopicRecreated (naming each held topic and what the
// operator must do) and/or ErrClickHouseUnavailable (joined), each wrapped with the detail. The ping's result is reused
// for a second, and concurrent calls share one ping; a ping is bounded by ctx and by 2 s. Ready
// never changes what the loader does: with ClickHouse down it keeps retrying, and is ready
// again once ClickHouse answers. Safe for concurrent use, at any time.
func (l *Loader) Ready(ctx context.Context) error { return l.ready.check(ctx) }

// pinger is what readiness needs of ClickHouse (driver.Conn).
type pinger interface {
	Ping(ctx context.Context) error
}

// readiness is the state behind Ready. joined is written by the consumer's group callbacks;
// mu guards the rest, written by Run (start, stop) and by check.
type readiness struct {
	group   string
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time

	joined atomic.Bool
	// held, set by the consumer loop, says what an operator must do about each topic held for
	// an incarnation conflict; nil or empty when none is.
	held atomic.Pointer[[]string]
	// topics, set while the consumer runs, returns how many topics it consumes (those
	// matching topic_regex); nil before the consumer runs and after it stopped.
	topics atomic.Pointer[func() int]

	mu       sync.Mutex
	ch       pinger        // nil unless Run is running
	checked  time.Time     // when err was found; zero when no result is cached
	err      error         // the cached ping result
	inflight chan struct{} // closed when the ping in progress ends; nil when none
}

func newReadiness(group string) *readiness {
	return &readiness{group: group, ttl: readyPingTTL, timeout: readyPingTimeout, now: time.Now}
}

// start makes ClickHouse pingable: Run has opened it.
func (r *readiness) start(ch pinger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ch, r.checked, r.err = ch, time.Time{}, nil
}

// consuming tells Ready how many topics the running consumer consumes.
func (r *readiness) consuming(topics func() int) { r.topics.Store(&topics) }

// holding tells Ready the topics held for an incarnation conflict, one message each.
func (r *readiness) holding(msgs []string) { r.held.Store(&msgs) }

// stop marks the loader stopped: Run is returning.
func (r *readiness) stop() {
	r.joined.Store(false)
	r.held.Store(nil)
	r.topics.Store(nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ch, r.checked, r.err = nil, time.Time{}, nil
}

func (r *readiness) check(ctx context.Context) error {
	r.mu.Lock()
	running := r.ch != nil
	r.mu.Unlock()
	if !running {
		return ErrNotRunning
	}
	var errs []error
	if !r.joined.Load() && !r.nothingToConsume() {
		errs = append(errs, fmt.Errorf("%w %q: no assignment yet, or the membership was lost", ErrNotInGroup, r.group))
	}
	if held := r.held.Load(); held != nil && len(*held) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s", ErrTopicRecreated, strings.Join(*held, "; ")))
	}
	if err := r.ping(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// nothingToConsume reports whether the consumer runs and consumes no topic: no topic matches
// topic_regex yet, so there is no group to be in.
func (r *readiness) nothingToConsume() bool {
	f := r.topics.Load()
	return f != nil && (*f)() == 0
}

// ping returns the result of a ping of ClickHouse at most ttl old, pinging when there is none;
// callers that find a ping in progress wait for its result (or their ctx).
func (r *readiness) ping(ctx context.Context) error {
	for {
		r.mu.Lock()
		ch := r.ch
		if ch == nil {
			r.mu.Unlock()
			return ErrNotRunning
		}
		if !r.checked.IsZero() && r.now().Sub(r.checked) < r.ttl {
			err := r.err
			r.mu.Unlock()
			return err
		}
		if wait := r.inflight; wait != nil {
			r.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return fmt.Errorf("%w: %w", ErrClickHouseUnavailable, ctx.Err())
			}
		}
		done := make(chan struct{})
		r.inflight = done
		r.mu.Unlock()

		pctx, cancel := context.WithTimeout(ctx, r.timeout)
		err := ch.Ping(pctx)
		cancel()
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrClickHouseUnavailable, err)
		}
		r.mu.Lock()
		r.inflight = nil
		if ctx.Err() == nil && r.ch == ch { // a ping cut short by the caller says nothing of ClickHouse
			r.checked, r.err = r.now(), err
		}
		r.mu.Unlock()
		close(done)
		return err
	}
}
