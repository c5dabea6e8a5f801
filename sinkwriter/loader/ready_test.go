package loader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// TestReadyFollowsClickHouseWhileTheLoaderKeepsRunning stops ClickHouse under a running
// loader: Ready turns to ErrClickHouseUnavailable (still in the group), the loader does not
// exit, and once ClickHouse is back Ready is nil again and records load.
func TestReadyFollowsClickHouseWhileTheLoaderKeepsRunning(t *testing.T) {
	e := newEnv(t, 1, []string{"ingest.acme"})
	l, err := loader.New(e.config(), prometheus.NewRegistry(), e.log)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ready(context.Background()); !errors.Is(err, loader.ErrNotRunning) {
		t.Fatalf("Ready before Run = %v, want ErrNotRunning", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := l.Ready(context.Background()); !errors.Is(err, loader.ErrNotRunning) {
			t.Errorf("Ready after Run = %v, want ErrNotRunning", err)
		}
	}()
	waitReady := func(what string, ok func(error) bool, timeout time.Duration) {
		t.Helper()
		var err error
		for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			select {
			case err := <-done:
				t.Fatalf("Run returned (%v) while waiting for %s", err, what)
			default:
			}
			rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
			err = l.Ready(rctx)
			rcancel()
			if ok(err) {
				return
			}
		}
		t.Fatalf("Ready = %v after %v, want %s", err, timeout, what)
	}

	waitReady("nil", func(err error) bool { return err == nil }, time.Minute)
	e.ch.Stop()
	waitReady("ErrClickHouseUnavailable alone", func(err error) bool {
		return errors.Is(err, loader.ErrClickHouseUnavailable) && !errors.Is(err, loader.ErrNotInGroup)
	}, 10*time.Second)
	e.ch.Restart()
	waitReady("nil again", func(err error) bool { return err == nil }, time.Minute)
	e.produce("ingest.acme", 0, makeRecord("acme", record.SignalLog, 1))
	e.waitCount("SELECT count() FROM ingest.logs", 1, time.Minute)
}
