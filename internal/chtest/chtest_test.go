package chtest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/chtest"
)

func TestServerAnswersAndSurvivesRestart(t *testing.T) {
	s := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := s.Conn()
	if err := conn.Exec(ctx, "CREATE TABLE default.t (x UInt64) ENGINE = MergeTree() ORDER BY x"); err != nil {
		t.Fatal(err)
	}
	// 18.16 needs inserts as native batches: an INSERT … VALUES through Exec hangs.
	b, err := conn.PrepareBatch(ctx, "INSERT INTO default.t (x)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Column(0).Append([]uint64{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	var n uint64
	// The pool's old connections are dead after the restart; a query may need a second try.
	for range 3 {
		if err = conn.QueryRow(ctx, "SELECT count() FROM default.t").Scan(&n); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("count after restart = %d, want 2", n)
	}
	if s.CPUTime() <= 0 {
		t.Errorf("CPUTime = %v, want > 0", s.CPUTime())
	}
	s.Stop()
	if s.PID() != 0 {
		t.Fatal("PID after Stop is not 0")
	}
}

// recordingTB records how Start ended a test: Skip or Fatal.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Helper() {}

func TestMissingServerSkipsWithTheInstallCommandButFailsUnderCI(t *testing.T) {
	t.Setenv(chtest.BinaryEnv, "/nonexistent/clickhouse-server")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recordingTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			chtest.Start(r)
		}()
		<-done
		got := r.skipped
		if ci == "true" {
			got = r.failed
			if r.skipped != "" {
				t.Errorf("CI=true: skipped (%q), want a failure", r.skipped)
			}
		}
		if !strings.Contains(got, "apt-get install -y clickhouse-server") {
			t.Errorf("CI=%q: message %q does not say how to install ClickHouse", ci, got)
		}
	}
}
