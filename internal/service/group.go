package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Member is one service of a Group.
type Member struct {
	// Name names the member in logs and errors.
	Name string
	// New constructs the service. A Group calls it only once every member before it is
	// ready, so it may use what they offer (their addresses, a migrated database) and do
	// one-shot work first. On error it must release what it took.
	New func(ctx context.Context) (Service, error)
}

// DefaultReadyTimeout is the ready timeout of a Group that sets none.
const DefaultReadyTimeout = 90 * time.Second

// readyPoll is how often Start asks a starting member whether it is ready.
const readyPoll = 25 * time.Millisecond

// Group runs services in order as one: see Start and Stop. Its methods are safe for
// concurrent use.
type Group struct {
	log          *slog.Logger
	readyTimeout time.Duration

	mu      sync.Mutex
	members []*running // in start order
	stopped bool
	stopErr error

	failOnce sync.Once
	failed   chan error    // the first failure, for Failed
	failSig  chan struct{} // closed on the first failure
	failErr  error         // set before failSig closes
}

// running is a started member.
type running struct {
	name     string
	cancel   context.CancelFunc
	done     chan struct{} // closed when Run returned; err is set then
	err      error
	stopping atomic.Bool
}

// NewGroup returns an empty group that logs to log (nil: discarded) and gives each member
// readyTimeout to be ready (0: DefaultReadyTimeout).
func NewGroup(log *slog.Logger, readyTimeout time.Duration) *Group {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if readyTimeout <= 0 {
		readyTimeout = DefaultReadyTimeout
	}
	return &Group{log: log, readyTimeout: readyTimeout, failed: make(chan error, 1), failSig: make(chan struct{})}
}

// Start constructs and runs members in order, each only once the one before it is ready
// (its Ready returned nil) within the group's ready timeout, and returns once the last one
// is ready. On the first problem (a constructor's error, a member that stops or is not ready
// in time, an earlier member that fails, ctx ending) it returns that error, naming the
// member; what started keeps running until Stop, which the caller must call either way.
// Start may be called again to add members; not after Stop.
func (g *Group) Start(ctx context.Context, members ...Member) error {
	for _, m := range members {
		if err := g.start(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (g *Group) start(ctx context.Context, m Member) error {
	if err := g.failure(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot start the %s: %w", m.Name, err)
	}
	svc, err := m.New(ctx)
	if err != nil {
		return err
	}
	r := &running{name: m.Name, done: make(chan struct{})}
	var rctx context.Context
	rctx, r.cancel = context.WithCancel(context.Background())
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		r.cancel()
		return fmt.Errorf("cannot start the %s: the group is stopped", m.Name)
	}
	g.members = append(g.members, r)
	g.mu.Unlock()
	go func() {
		r.err = svc.Run(rctx)
		if !r.stopping.Load() {
			err := r.err
			if err == nil {
				err = errors.New("stopped by itself")
			}
			g.fail(fmt.Errorf("%s: %w", m.Name, err))
		}
		close(r.done)
	}()
	return g.waitReady(ctx, r, svc)
}

// waitReady polls svc.Ready until it returns nil.
func (g *Group) waitReady(ctx context.Context, r *running, svc Service) error {
	ctx, cancel := context.WithTimeout(ctx, g.readyTimeout)
	defer cancel()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		err := svc.Ready(ctx)
		if err == nil {
			g.log.Info("ready", "service", r.name)
			return nil
		}
		select {
		case <-r.done:
			return g.failure()
		case <-g.failSig:
			return g.failure()
		case <-ctx.Done():
			return fmt.Errorf("the %s is not ready within %v: %w", r.name, g.readyTimeout, err)
		case <-tick.C:
		}
	}
}

func (g *Group) fail(err error) {
	g.failOnce.Do(func() {
		g.failErr = err
		g.failed <- err
		close(g.failSig)
		g.log.Error("failed", "err", err)
	})
}

// failure returns the first failure, or nil.
func (g *Group) failure() error {
	select {
	case <-g.failSig:
		return g.failErr
	default:
		return nil
	}
}

// Failed returns a channel that yields the first error of a member whose Run returned
// before Stop (a nil return counts as "stopped by itself"), once.
func (g *Group) Failed() <-chan error { return g.failed }

// Stop stops the started members in reverse start order, each only once the one started
// after it returned, within ctx, and returns every failure (a member's Run error, or that
// it did not stop before ctx ended). It is idempotent.
func (g *Group) Stop(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return g.stopErr
	}
	g.stopped = true
	var errs []error
	for i := len(g.members) - 1; i >= 0; i-- {
		r := g.members[i]
		r.stopping.Store(true)
		r.cancel()
		select {
		case <-r.done:
		case <-ctx.Done():
			err := fmt.Errorf("%s: did not stop before the deadline: %w", r.name, context.Cause(ctx))
			errs = append(errs, err)
			g.log.Error("stopped with an error", "service", r.name, "err", err)
			continue
		}
		if r.err != nil && !errors.Is(g.failure(), r.err) { // a failure is reported once
			errs = append(errs, fmt.Errorf("%s: %w", r.name, r.err))
			g.log.Error("stopped with an error", "service", r.name, "err", r.err)
			continue
		}
		g.log.Info("stopped", "service", r.name)
	}
	g.stopErr = errors.Join(errs...)
	return g.stopErr
}

// Wait blocks until ctx ends or a member fails, and returns that failure (nil when ctx
// ended).
func (g *Group) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-g.failSig:
		return g.failErr
	}
}

// RunAll runs members as a Group: it starts them in order (see Group.Start), runs until ctx
// ends or one fails, then stops them in reverse order within stopTimeout. It returns nil
// after a clean stop on ctx, else the first failure joined with what failed to stop.
func RunAll(ctx context.Context, log *slog.Logger, readyTimeout, stopTimeout time.Duration, members ...Member) error {
	g := NewGroup(log, readyTimeout)
	err := g.Start(ctx, members...)
	if err == nil {
		err = g.Wait(ctx)
	}
	sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if serr := g.Stop(sctx); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}
