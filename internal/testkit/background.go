package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Background is a function running in a goroutine (see Go). Its methods are safe for
// concurrent use.
type Background struct {
	t       testing.TB
	timeout time.Duration
	cancel  context.CancelFunc
	exited  context.Context // ends once fn returned
	err     error           // fn's, once exited ended
}

// Go runs fn in a goroutine with a ctx that ends at Stop or when the test ends; timeout is
// how long fn may take to return once its ctx ended.
func Go(t testing.TB, timeout time.Duration, fn func(context.Context) error) *Background {
	ctx, cancel := context.WithCancel(context.Background())
	exited, exit := context.WithCancelCause(context.Background())
	b := &Background{t: t, timeout: timeout, cancel: cancel, exited: exited}
	go func() {
		b.err = fn(ctx)
		exit(fmt.Errorf("the function returned: %v", b.err))
	}()
	t.Cleanup(cancel)
	return b
}

// Run is Go until the test ends: then it ends fn's ctx and checks that fn stops cleanly,
// returning nil within the timeout; name names fn in the failures.
func Run(t testing.TB, name string, timeout time.Duration, fn func(context.Context) error) *Background {
	b := Go(t, timeout, fn)
	t.Cleanup(func() {
		ok, err := b.stop()
		switch {
		case !ok:
			t.Errorf("%s did not stop within %v", name, timeout)
		case err != nil:
			t.Errorf("%s: %v", name, err)
		}
	})
	return b
}

// Done is closed once fn returned; Err then returns its error.
func (b *Background) Done() <-chan struct{} { return b.exited.Done() }

// Err returns fn's error once Done is closed, and nil before.
func (b *Background) Err() error {
	select {
	case <-b.Done():
		return b.err
	default:
		return nil
	}
}

// Exited returns a context that ends once fn returned, its cause saying with what error: the
// ctx of a Poll for something that fn's return makes impossible.
func (b *Background) Exited() context.Context { return b.exited }

// Stop ends fn's ctx and returns fn's error once it returned. It fails the test (FailNow)
// when fn does not return within the timeout.
func (b *Background) Stop() error {
	b.t.Helper()
	ok, err := b.stop()
	if !ok {
		b.t.Fatalf("the function did not return within %v after its ctx ended", b.timeout)
	}
	return err
}

// stop ends fn's ctx and waits for it within the timeout: whether it returned, and its error.
func (b *Background) stop() (bool, error) {
	b.cancel()
	select {
	case <-b.Done():
		return true, b.err
	case <-time.After(b.timeout):
		return false, nil
	}
}
