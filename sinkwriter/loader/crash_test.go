//go:build linux

package loader_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ingestdev/ingest/internal/testkit"
)

func TestLoaderCatchesUpAfterClickHouseIsDownFor30Seconds(t *testing.T) {
	if testing.Short() {
		t.Skip("stops ClickHouse for 30 s")
	}
	e := newEnv(t, 3, []string{"ingest.acme"})
	p := &produced{table: map[string]uint64{}}
	addWitnesses(t, e)
	reg, stop := e.start(e.config())

	produceMixed(e, "ingest.acme", 3, 0, 3000, 300, 10*time.Millisecond, p)
	e.waitCount("SELECT count() FROM ingest.metrics", p.get("metrics"), time.Minute)

	// Stop ClickHouse while records keep coming: the loader retries, nothing is dropped.
	done := make(chan struct{})
	go func() {
		defer close(done)
		produceMixed(e, "ingest.acme", 3, 3000, 6000, 300, 100*time.Millisecond, p)
	}()
	e.ch.Stop()
	down := time.Now()
	time.Sleep(30 * time.Second)
	<-done
	e.ch.Restart()
	t.Logf("ClickHouse was down for %v", time.Since(down).Round(time.Second))

	for _, table := range []string{"logs", "metrics", "spans"} {
		e.waitCount("SELECT count() FROM ingest."+table, p.get(table), 2*time.Minute)
	}
	stop()
	assertExactlyOnce(t, e, p)
	if got := testkit.MetricSum(t, reg, "ingest_loader_insert_retries_total"); got == 0 {
		t.Error("ingest_loader_insert_retries_total = 0, want retries while ClickHouse was down")
	}
}

// TestKill9OfTheLoaderLosesAndDuplicatesNothing runs `ingest loader` as a process against
// Kafka and ClickHouse, kills it with SIGKILL at random moments while records are produced and
// loaded, restarts it each time, and checks that every record is visible exactly once, without
// FINAL, in the tables and the roll-ups.
func TestKill9OfTheLoaderLosesAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the ingest binary and kills the loader repeatedly")
	}
	bin := buildIngest(t)
	port := testkit.FreePort(t)
	e := newEnv(t, 3, []string{"ingest.acme"}, kfake.Ports(port))
	p := &produced{table: map[string]uint64{}}
	logPath := filepath.Join(t.TempDir(), "loader.log")
	t.Cleanup(func() { // on any failure, Fatal included: what the loaders did
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("loader log:\n%s", b)
			}
		}
	})

	// Migrate first, then make every metrics and spans INSERT take 300 ms longer (a view that
	// sleeps once per block): a kill right after a flush's logs or metrics INSERT then lands
	// before the rest of the flush and its offset commit, the window the ledger exists for.
	addWitnesses(t, e)
	for _, table := range []string{"metrics", "spans"} {
		if err := e.ch.Conn().Exec(context.Background(), "CREATE MATERIALIZED VIEW ingest.test_slow_"+table+" ENGINE = Null AS SELECT sleep(0.3) AS s FROM ingest."+table); err != nil {
			t.Fatal(err)
		}
	}

	stopProducing := make(chan struct{})
	done := make(chan int)
	// Produce until the kills are over (up to a cap): a kill meant to land right after an
	// INSERT needs new records to flush, so the load must not run out before the last round.
	go func() {
		n := 0
		for n < 300_000 {
			select {
			case <-stopProducing:
				done <- n
				return
			default:
			}
			produceMixed(e, "ingest.acme", 3, n, 600, 600, 100*time.Millisecond, p)
			n += 600
		}
		<-stopProducing
		done <- n
	}()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills, targeted := 0, 0
	for round := range 8 {
		cmd := startLoaderProcess(t, bin, e, logPath)
		if round%2 == 0 {
			// At a random moment: while starting, buffering, inserting or committing.
			time.Sleep(time.Duration(300+rng.IntN(3000)) * time.Millisecond)
		} else if waitLedgerMove(e, []string{"logs", "metrics"}[round/2%2], 30*time.Second) {
			// Right after a flush's logs or metrics INSERT landed: the rest of that flush and its
			// offset commit have not happened yet.
			targeted++
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		kills++
	}
	close(stopProducing)
	total := <-done
	cmd := startLoaderProcess(t, bin, e, logPath)
	for _, table := range []string{"logs", "metrics", "spans"} {
		e.waitCount("SELECT count() FROM ingest."+table+" FINAL", p.get(table), 3*time.Minute)
	}
	time.Sleep(time.Second) // a duplicate, if any, would be written by now
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("loader exit after SIGTERM: %v", err)
	}
	if targeted == 0 {
		t.Error("no kill landed right after an INSERT: the test did not exercise the ledger")
	}
	assertExactlyOnce(t, e, p)
	t.Logf("%d records produced, loaded across %d kills (%d right after a flush's first INSERT)", total, kills, targeted)
}

// waitLedgerMove waits until a new block of table lands, polling every millisecond or so;
// false after timeout. A new block raises its partition's highest offset, so the sum over
// partitions of the ledger's max rises with it. Counting the ledger's rows would not do: the
// table is a ReplacingMergeTree whose background merges remove rows, so a new block can land
// while the count stays at or below where it was.
func waitLedgerMove(e *env, table string, timeout time.Duration) bool {
	q := "SELECT sum(m) FROM (SELECT max(kafka_offset) AS m FROM ingest.loader_offsets WHERE table_name = '" + table + "' GROUP BY kafka_topic, kafka_partition)"
	base, err := e.tryCount(q)
	if err != nil {
		base = 0
	}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		if n, err := e.tryCount(q); err == nil && n > base {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// buildIngest builds cmd/ingest into a temporary directory.
func buildIngest(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ingest")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to build the ingest binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/ingestdev/ingest/cmd/ingest").CombinedOutput()
	if err != nil {
		t.Fatalf("cannot build ingest: %v\n%s", err, out)
	}
	return bin
}

func startLoaderProcess(t *testing.T, bin string, e *env, logPath string) *exec.Cmd {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(bin, "loader",
		"--brokers", e.kafka.ListenAddrs()[0],
		"--clickhouse", e.ch.Addr(),
		"--database", "ingest",
		"--listen", "none", // no listener: the default port may be taken by another test
		"--flush-rows", "5000",
		"--flush-interval", "200ms",
		"--retry-min", "20ms", "--retry-max", "500ms",
		"--insert-timeout", "5s",
		"--session-timeout", "2s", "--heartbeat-interval", "500ms", "--rebalance-timeout", "10s",
		"--topic-refresh-interval", "1s",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}
