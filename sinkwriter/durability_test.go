package sinkwriter_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/embedkafka"
	"github.com/ingestdev/ingest/internal/shed"
	"github.com/ingestdev/ingest/record"
)

// kafkaChildEnv makes the test binary run an embedded Kafka instead of the tests (see
// TestMain): its value is "<data dir> <listen address>".
const kafkaChildEnv = "SINKWRITER_TEST_KAFKA_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(kafkaChildEnv); v != "" {
		runKafkaChild(v)
		return
	}
	os.Exit(m.Run())
}

// runKafkaChild runs an embedded Kafka until killed, printing "ready <addr>" once it listens.
func runKafkaChild(arg string) {
	dir, listen, _ := strings.Cut(arg, " ")
	k, err := embedkafka.Start(embedkafka.Config{DataDir: dir, Listen: []string{listen}},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ready %s\n", k.Addrs()[0])
	select {} // until SIGKILL
}

// startKafkaChild starts an embedded Kafka in a child process on dir and returns its address.
func startKafkaChild(t *testing.T, dir, listen string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), kafkaChildEnv+"="+dir+" "+listen)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start Kafka child: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		t.Fatalf("Kafka child did not start: %q, %v", line, err)
	}
	return cmd, addr
}

// checkAckedInKafka checks that every record of acked is in topic byte for byte, and that
// nothing but records of sent is.
func checkAckedInKafka(t *testing.T, brokers []string, topic string, acked, sent []record.Batch) {
	t.Helper()
	ackedRecs, sentRecs := byEventID(t, acked), byEventID(t, sent)
	got := consume(t, brokers, topic, -1)
	found := make(map[string]bool)
	for _, c := range got {
		if want, ok := sentRecs[string(c.key)]; !ok || string(want) != string(c.value) {
			t.Errorf("topic %s holds a record that was never sent as such: key %x", topic, c.key)
		}
		found[string(c.key)] = true
	}
	lost := 0
	for k := range ackedRecs {
		if !found[k] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged records are not in %s after the restart", lost, len(ackedRecs), topic)
	}
	t.Logf("%d records acknowledged, %d sent, %d in Kafka after the restart", len(ackedRecs), len(sentRecs), len(found))
}

func TestAcknowledgedRecordsSurviveKill9OfKafka(t *testing.T) {
	dir := t.TempDir()
	kafka, addr := startKafkaChild(t, dir, "127.0.0.1:0")
	cfg := testConfig([]string{addr})
	cfg.KafkaTimeout = 2 * time.Second
	w, _ := newWriter(t, cfg)

	// Write batches from two goroutines until Kafka is killed in the middle of it.
	var mu sync.Mutex
	var acked, sent []record.Batch
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				b := makeBatch("acme", 200, 300, g*100000+i)
				mu.Lock()
				sent = append(sent, b)
				mu.Unlock()
				err := w.Write(context.Background(), b)
				if err == nil {
					mu.Lock()
					acked = append(acked, b)
					mu.Unlock()
				} else if !errors.Is(err, shed.ErrUnavailable) {
					t.Errorf("Write: %v", err)
				}
			}
		})
	}
	waitFor(t, "batches to be acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 20
	})
	if err := kafka.Process.Kill(); err != nil { // SIGKILL: no shutdown, no sync
		t.Fatal(err)
	}
	kafka.Wait()
	close(stop)
	wg.Wait()

	_, addr = startKafkaChild(t, dir, "127.0.0.1:0")
	checkAckedInKafka(t, []string{addr}, "ingest.acme", acked, sent)
}

func TestAcknowledgedRecordsSurviveKafkaRestartAndWritesResume(t *testing.T) {
	dir := t.TempDir()
	log := testLog(t)
	k, err := embedkafka.Start(embedkafka.Config{DataDir: dir, Listen: []string{"127.0.0.1:0"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	addr := k.Addrs()[0]
	w, _ := newWriter(t, testConfig([]string{addr}))
	before := []record.Batch{makeBatch("acme", 300, 300, 1), makeBatch("acme", 300, 300, 2)}
	for _, b := range before {
		if err := w.Write(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := embedkafka.Start(embedkafka.Config{DataDir: dir, Listen: []string{"127.0.0.1:0"}}, log); err == nil {
		t.Fatal("a second embedded Kafka started on a data directory in use")
	}
	if err := k.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	// Same directory, same address: the running writer reconnects.
	_, port, _ := net.SplitHostPort(addr)
	k, err = embedkafka.Start(embedkafka.Config{DataDir: dir, Listen: []string{"127.0.0.1:" + port}}, log)
	if err != nil {
		t.Fatalf("cannot restart on %s: %v", dir, err)
	}
	t.Cleanup(func() { k.Close(context.Background()) })
	after := makeBatch("acme", 300, 300, 3)
	var werr error
	for range 5 { // the first batch after the restart may find the old connection dead
		if werr = w.Write(t.Context(), after); werr == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if werr != nil {
		t.Fatalf("Write after the restart: %v", werr)
	}
	checkInKafka(t, k.Addrs(), "ingest.acme", append(before, after)...)
}
