package loader

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakePinger answers pings with err, after block is closed if set, counting them.
type fakePinger struct {
	mu    sync.Mutex
	err   error
	block chan struct{}
	pings atomic.Int64
}

func (p *fakePinger) Ping(ctx context.Context) error {
	p.pings.Add(1)
	p.mu.Lock()
	err, block := p.err, p.block
	p.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (p *fakePinger) set(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// newTestReadiness returns a readiness on a clock the test moves.
func newTestReadiness() (*readiness, *time.Time) {
	now := time.Unix(1_700_000_000, 0)
	r := newReadiness("ingest-loader")
	r.now = func() time.Time { return now }
	return r, &now
}

func TestReadyNeedsTheGroupAndAClickHouseThatAnswers(t *testing.T) {
	r, now := newTestReadiness()
	ctx := context.Background()
	if err := r.check(ctx); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("before Run: %v, want ErrNotRunning", err)
	}
	ch := &fakePinger{}
	r.start(ch)
	if err := r.check(ctx); !errors.Is(err, ErrNotInGroup) || errors.Is(err, ErrClickHouseUnavailable) {
		t.Fatalf("before the first assignment: %v, want ErrNotInGroup alone", err)
	}
	r.joined.Store(true)
	if err := r.check(ctx); err != nil {
		t.Fatalf("joined, ClickHouse up: %v, want nil", err)
	}

	down := errors.New("dial tcp 127.0.0.1:9000: connect: connection refused")
	ch.set(down)
	*now = now.Add(readyPingTTL)
	err := r.check(ctx)
	if !errors.Is(err, ErrClickHouseUnavailable) || !errors.Is(err, down) || errors.Is(err, ErrNotInGroup) {
		t.Fatalf("ClickHouse down: %v, want ErrClickHouseUnavailable wrapping the ping's error", err)
	}
	r.joined.Store(false) // the membership was lost
	if err := r.check(ctx); !errors.Is(err, ErrNotInGroup) || !errors.Is(err, ErrClickHouseUnavailable) {
		t.Fatalf("both down: %v, want both errors", err)
	}
	r.joined.Store(true)
	ch.set(nil)
	*now = now.Add(readyPingTTL)
	if err := r.check(ctx); err != nil {
		t.Fatalf("ClickHouse back: %v, want nil", err)
	}
	r.stop()
	if err := r.check(ctx); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("after Run: %v, want ErrNotRunning", err)
	}
}

func TestReadyPingsClickHouseAtMostOnceASecond(t *testing.T) {
	r, now := newTestReadiness()
	ch := &fakePinger{}
	r.start(ch)
	r.joined.Store(true)
	for range 50 {
		if err := r.check(context.Background()); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(10 * time.Millisecond)
	}
	if got := ch.pings.Load(); got != 1 {
		t.Errorf("%d pings in 0.5 s of checks, want 1", got)
	}
	// A failure is reused too.
	ch.set(errors.New("refused"))
	*now = now.Add(readyPingTTL)
	for range 10 {
		if err := r.check(context.Background()); err == nil {
			t.Fatal("ready with ClickHouse down")
		}
	}
	if got := ch.pings.Load(); got != 2 {
		t.Errorf("%d pings, want 2", got)
	}
}

func TestConcurrentReadyCallsShareOnePing(t *testing.T) {
	r, _ := newTestReadiness()
	ch := &fakePinger{block: make(chan struct{})}
	r.start(ch)
	r.joined.Store(true)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = r.check(context.Background()) })
	}
	for ch.pings.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others find the ping in progress
	close(ch.block)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if got := ch.pings.Load(); got != 1 {
		t.Errorf("%d pings for 8 concurrent calls, want 1", got)
	}
}

func TestAPingThatHangsIsBoundedByTheCallersContextAndNotReused(t *testing.T) {
	r, _ := newTestReadiness()
	ch := &fakePinger{block: make(chan struct{})}
	r.start(ch)
	r.joined.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.check(ctx)
	if !errors.Is(err, ErrClickHouseUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hanging ping: %v, want ErrClickHouseUnavailable wrapping the deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Ready took %v with a 50 ms context", took)
	}
	close(ch.block)
	if err := r.check(context.Background()); err != nil || ch.pings.Load() != 2 {
		t.Errorf("next call: %v after %d pings, want a fresh ping that answers", err, ch.pings.Load())
	}

	// The ping's own bound applies under a longer context.
	r2, _ := newTestReadiness()
	r2.timeout = 30 * time.Millisecond
	r2.start(&fakePinger{block: make(chan struct{})})
	r2.joined.Store(true)
	if err := r2.check(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ping over its own timeout: %v, want a deadline error", err)
	}
}

func TestReadyWithNoTopicToConsumeNeedsOnlyClickHouse(t *testing.T) {
	r, now := newTestReadiness()
	ctx := context.Background()
	ch := &fakePinger{}
	r.start(ch)
	topics := 0
	r.consuming(func() int { return topics })
	if err := r.check(ctx); err != nil {
		t.Fatalf("consumer running, no topic matches: %v, want nil (nothing to join for)", err)
	}
	ch.set(errors.New("connection refused"))
	*now = now.Add(readyPingTTL)
	if err := r.check(ctx); !errors.Is(err, ErrClickHouseUnavailable) || errors.Is(err, ErrNotInGroup) {
		t.Fatalf("no topic, ClickHouse down: %v, want ErrClickHouseUnavailable alone", err)
	}
	ch.set(nil)
	*now = now.Add(readyPingTTL)
	topics = 1 // the first tenant topic appeared: ready only once the group assigned it
	if err := r.check(ctx); !errors.Is(err, ErrNotInGroup) {
		t.Fatalf("a topic to consume, not yet in the group: %v, want ErrNotInGroup", err)
	}
	r.joined.Store(true)
	if err := r.check(ctx); err != nil {
		t.Fatalf("joined: %v, want nil", err)
	}
	r.stop()
	r.start(ch)
	if err := r.check(ctx); !errors.Is(err, ErrNotInGroup) {
		t.Fatalf("restarted, consumer not running yet: %v, want ErrNotInGroup", err)
	}
}
