package loader_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/testkit"
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
	run := testkit.Go(t, time.Minute, l.Run)
	defer func() {
		if err := run.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := l.Ready(context.Background()); !errors.Is(err, loader.ErrNotRunning) {
			t.Errorf("Ready after Run = %v, want ErrNotRunning", err)
		}
	}()
	waitReady := func(what string, ok func(error) bool, timeout time.Duration) {
		t.Helper()
		err := testkit.Poll(run.Exited(), timeout, 50*time.Millisecond, func() error {
			rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
			defer rcancel()
			if err := l.Ready(rctx); !ok(err) {
				return fmt.Errorf("Ready = %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("waiting for Ready %s: %v", what, err)
		}
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
