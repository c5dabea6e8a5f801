package chtest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/chserver"
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

// TestQueryLogRecordsQueriesWithTheirCPU: with QueryLog, every finished query is in
// system.query_log with its CPU time, what the pipeline benchmark splits ClickHouse's CPU by.
func TestQueryLogRecordsQueriesWithTheirCPU(t *testing.T) {
	s := chtest.StartConfig(t, chserver.Config{QueryLog: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var n uint64
	if err := s.Conn().QueryRow(ctx, "SELECT count() FROM numbers(3000000) WHERE number % 7 = 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	// The finished query's entry may be queued a moment after its result reached the client:
	// flush and look again until it is there.
	var logged, cpu uint64
	for deadline := time.Now().Add(20 * time.Second); ; {
		if err := s.Conn().Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
			t.Fatal(err)
		}
		if err := s.Conn().QueryRow(ctx, "SELECT count(), toUInt64(sum(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'UserTimeMicroseconds')])) "+
			"FROM system.query_log WHERE type = 2 AND query LIKE '%number % 7 = 1%' AND query NOT LIKE '%query_log%'").Scan(&logged, &cpu); err != nil {
			t.Fatal(err)
		}
		if logged > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if logged != 1 || cpu == 0 {
		t.Errorf("system.query_log holds %d finished runs of the query with %d µs of user CPU, want 1 with some", logged, cpu)
	}
}
