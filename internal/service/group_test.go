package service_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/service"
)

// journal records what the members of a group do, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	j.events = append(j.events, fmt.Sprintf(format, args...))
	j.mu.Unlock()
}

func (j *journal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return strings.Join(j.events, ", ")
}

// fake is a member that becomes ready readyAfter after its Run started, and fails with
// failErr failAfter after that when set.
type fake struct {
	name       string
	j          *journal
	readyAfter time.Duration
	failAfter  time.Duration
	failErr    error
	started    atomic.Int64 // unix ns; 0 before Run
}

func (f *fake) Run(ctx context.Context) error {
	f.j.add("run %s", f.name)
	f.started.Store(time.Now().UnixNano())
	var fail <-chan time.Time
	if f.failErr != nil {
		fail = time.After(f.readyAfter + f.failAfter)
	}
	select {
	case <-ctx.Done():
		f.j.add("stop %s", f.name)
		return nil
	case <-fail:
		f.j.add("fail %s", f.name)
		return f.failErr
	}
}

func (f *fake) Ready(context.Context) error {
	s := f.started.Load()
	if s == 0 || time.Since(time.Unix(0, s)) < f.readyAfter {
		return errors.New(f.name + " is warming up")
	}
	return nil
}

// member makes a Member of f whose constructor records that the member before it (prev,
// nil for the first) was ready.
func member(f, prev *fake) service.Member {
	return service.Member{Name: f.name, New: func(context.Context) (service.Service, error) {
		if prev != nil && prev.Ready(context.Background()) != nil {
			f.j.add("new %s BEFORE %s WAS READY", f.name, prev.name)
		} else {
			f.j.add("new %s", f.name)
		}
		return f, nil
	}}
}

func TestGroupStartsEachMemberOnceThePreviousIsReadyAndStopsInReverse(t *testing.T) {
	j := &journal{}
	a := &fake{name: "a", j: j, readyAfter: 100 * time.Millisecond}
	b := &fake{name: "b", j: j, readyAfter: 50 * time.Millisecond}
	c := &fake{name: "c", j: j}
	g := service.NewGroup(nil, 5*time.Second)
	if err := g.Start(context.Background(), member(a, nil), member(b, a), member(c, b)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*fake{a, b, c} {
		if err := f.Ready(context.Background()); err != nil {
			t.Errorf("after Start: %v", err)
		}
	}
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "new a, run a, new b, run b, new c, run c, stop c, stop b, stop a"
	if got := j.String(); got != want {
		t.Errorf("events:\n got %s\nwant %s", got, want)
	}
	if err := g.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestGroupFirstFailureStopsTheRest(t *testing.T) {
	j := &journal{}
	a := &fake{name: "a", j: j}
	boom := errors.New("boom")
	b := &fake{name: "b", j: j, failAfter: 100 * time.Millisecond, failErr: boom}
	c := &fake{name: "c", j: j}
	done := make(chan error, 1)
	go func() {
		done <- service.RunAll(context.Background(), nil, 5*time.Second, 5*time.Second, member(a, nil), member(b, a), member(c, b))
	}()
	select {
	case err := <-done:
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "b: ") {
			t.Errorf("RunAll: %v, want b's failure", err)
		}
		if strings.Count(err.Error(), "boom") != 1 {
			t.Errorf("RunAll reports the failure more than once: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunAll did not return after a member failed")
	}
	want := "new a, run a, new b, run b, new c, run c, fail b, stop c, stop a"
	if got := j.String(); got != want {
		t.Errorf("events:\n got %s\nwant %s", got, want)
	}
}

func TestGroupStopsStartingWhenAMemberIsNotReadyInTime(t *testing.T) {
	j := &journal{}
	a := &fake{name: "a", j: j}
	slow := &fake{name: "slow", j: j, readyAfter: time.Hour}
	never := &fake{name: "never", j: j}
	g := service.NewGroup(nil, 200*time.Millisecond)
	err := g.Start(context.Background(), member(a, nil), member(slow, a), member(never, slow))
	if err == nil || !strings.Contains(err.Error(), "the slow is not ready within 200ms: slow is warming up") {
		t.Fatalf("Start: %v, want that slow is not ready and why", err)
	}
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := j.String(), "new a, run a, new slow, run slow, stop slow, stop a"; got != want {
		t.Errorf("events:\n got %s\nwant %s", got, want)
	}
}

func TestGroupStopsStartingWhenAConstructorFails(t *testing.T) {
	j := &journal{}
	a := &fake{name: "a", j: j}
	never := &fake{name: "never", j: j}
	bad := service.Member{Name: "bad", New: func(context.Context) (service.Service, error) {
		return nil, errors.New(`cannot listen on "127.0.0.1:1" for the bad`)
	}}
	g := service.NewGroup(nil, time.Second)
	err := g.Start(context.Background(), member(a, nil), bad, member(never, a))
	if err == nil || !strings.Contains(err.Error(), "for the bad") {
		t.Fatalf("Start: %v, want the constructor's error", err)
	}
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := j.String(), "new a, run a, stop a"; got != want {
		t.Errorf("events:\n got %s\nwant %s", got, want)
	}
}

func TestGroupStopIsBoundedByItsContext(t *testing.T) {
	stuck := service.Member{Name: "stuck", New: func(context.Context) (service.Service, error) { return stuckService{}, nil }}
	g := service.NewGroup(nil, time.Second)
	if err := g.Start(context.Background(), stuck); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := g.Stop(ctx); err == nil || !strings.Contains(err.Error(), "stuck: did not stop before the deadline") {
		t.Fatalf("Stop: %v", err)
	}
}

type stuckService struct{}

func (stuckService) Run(context.Context) error   { select {} }
func (stuckService) Ready(context.Context) error { return nil }
