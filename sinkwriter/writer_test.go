package sinkwriter_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ingestdev/ingest/internal/shed"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/client"
)

func TestWriteReturnsNilOnlyWithEveryRecordInKafka(t *testing.T) {
	c := newCluster(t)
	w, reg := newWriter(t, testConfig(c.ListenAddrs()))
	a1, a2 := makeBatch("acme", 500, 300, 1), makeBatch("acme", 300, 200, 2)
	b1 := makeBatch("globex", 200, 300, 3)
	for _, b := range []record.Batch{a1, a2, b1} {
		if err := w.Write(t.Context(), b); err != nil {
			t.Fatalf("Write(%s): %v", b.Tenant, err)
		}
	}
	checkInKafka(t, c.ListenAddrs(), "ingest.acme", a1, a2)
	checkInKafka(t, c.ListenAddrs(), "ingest.globex", b1)

	if n := len(c.PartitionInfos("ingest.acme")); n != 6 {
		t.Errorf("topic ingest.acme has %d partitions, want 6", n)
	}
	parts := map[int32]bool{}
	for _, r := range consume(t, c.ListenAddrs(), "ingest.acme", 800) {
		parts[r.partition] = true
	}
	if len(parts) < 4 {
		t.Errorf("a tenant's records went to %d partitions, want them spread over the 6", len(parts))
	}
	if got := metric(t, reg, "ingest_sinkwriter_records_produced_total", "tenant", "acme"); got != 800 {
		t.Errorf("records produced for acme = %v, want 800", got)
	}
	if got := metric(t, reg, "ingest_sinkwriter_batches_total", "code", "200"); got != 3 {
		t.Errorf("batches answered 200 = %v, want 3", got)
	}
	if got := metric(t, reg, "ingest_sinkwriter_buffer_bytes"); got != 0 {
		t.Errorf("buffer bytes after every batch was answered = %v, want 0", got)
	}
	if n, err := testutil.GatherAndCount(reg, "ingest_sinkwriter_produce_duration_seconds"); err != nil || n != 1 {
		t.Errorf("produce duration histogram: %d series, %v", n, err)
	}
}

func TestTopicPatternNamesTopics(t *testing.T) {
	c := newCluster(t)
	cfg := testConfig(c.ListenAddrs())
	cfg.TopicPattern = "telemetry-{tenant}-v2"
	cfg.TopicPartitions = 2
	w, _ := newWriter(t, cfg)
	b := makeBatch("acme", 10, 100, 1)
	if err := w.Write(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if n := len(c.PartitionInfos("telemetry-acme-v2")); n != 2 {
		t.Fatalf("topic telemetry-acme-v2 has %d partitions, want 2", n)
	}
	checkInKafka(t, c.ListenAddrs(), "telemetry-acme-v2", b)
}

func TestExistingTopicIsUsed(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(3, "ingest.acme"))
	w, _ := newWriter(t, testConfig(c.ListenAddrs()))
	b := makeBatch("acme", 50, 100, 1)
	if err := w.Write(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if n := len(c.PartitionInfos("ingest.acme")); n != 3 {
		t.Errorf("existing topic changed to %d partitions", n)
	}
	checkInKafka(t, c.ListenAddrs(), "ingest.acme", b)
}

func TestInvalidBatchIsRefusedBeforeProducing(t *testing.T) {
	c := newCluster(t)
	cfg := testConfig(c.ListenAddrs())
	cfg.MaxRecordBytes = 600
	cfg.MaxBatchBytes = 1 << 20
	w, reg := newWriter(t, cfg)
	good := makeBatch("acme", 3, 100, 1)
	truncated := good
	truncated.Data = good.Data[:len(good.Data)-1]
	other := makeBatch("globex", 3, 100, 1)
	other.Tenant = "acme"
	f := func(name string, b record.Batch, status int, reason string) {
		t.Helper()
		err := w.Write(t.Context(), b)
		var be *sinkwriter.BatchError
		if !errors.As(err, &be) || be.Status != status || be.Reason != reason {
			t.Errorf("%s: Write = %v, want %d %s", name, err, status, reason)
		}
	}
	f("bad tenant", record.Batch{Tenant: "Acme!", Data: good.Data, Count: 3}, 400, sinkwriter.ReasonInvalidTenant)
	f("count mismatch", record.Batch{Tenant: "acme", Data: good.Data, Count: 4}, 400, sinkwriter.ReasonRecordCountMismatch)
	f("truncated", record.Batch{Tenant: "acme", Data: truncated.Data, Count: 3}, 400, sinkwriter.ReasonCorruptBatch)
	f("other tenant's records", other, 400, sinkwriter.ReasonCorruptBatch)
	f("record too large", makeBatch("acme", 2, 800, 1), 413, sinkwriter.ReasonRecordTooLarge)
	f("batch too large", makeBatch("acme", 4000, 300, 1), 413, sinkwriter.ReasonBatchTooLarge)
	garbage := record.AppendFrame(nil, []byte("not a record at all, but long enough to pass a length check"))
	f("garbage", record.Batch{Tenant: "acme", Data: garbage, Count: 1}, 400, sinkwriter.ReasonCorruptBatch)
	if c.TopicInfo("ingest.acme") != nil {
		t.Error("an invalid batch created the tenant's topic")
	}
	if got := metric(t, reg, "ingest_sinkwriter_batches_total", "code", "400"); got != 5 {
		t.Errorf("batches answered 400 = %v, want 5", got)
	}
}

// blockProduce makes kfake hold every produce request until the returned release is called;
// hit receives once per held request.
func blockProduce(c *kfake.Cluster) (hit <-chan struct{}, release func()) {
	gate := make(chan struct{})
	hits := make(chan struct{}, 100)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		select {
		case <-gate:
		default:
			select {
			case hits <- struct{}{}:
			default:
			}
			c.SleepControl(func() { <-gate })
		}
		return nil, nil, false
	})
	var once sync.Once
	return hits, func() { once.Do(func() { close(gate) }) }
}

// waitFor polls cond until it holds or 10 s passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTenantOverShareGets429WhileTenantWithinShareSucceeds(t *testing.T) {
	c := newCluster(t)
	batchA := makeBatch("acme", 100, 300, 1)
	size := int64(len(batchA.Data))
	cfg := testConfig(c.ListenAddrs())
	cfg.MaxBufferBytes = 4*size + size/2 // a tenant's share: 1.125 batches
	cfg.MaxBatchBytes = size + size/8
	w, reg := newWriter(t, cfg)
	srv := serve(t, w)
	cl := newClient(t, client.Config{URL: srv.URL})

	// Warm up: create both topics, so that the held produce requests are the batches'.
	warm := map[string]record.Batch{}
	for _, tenant := range []string{"acme", "globex"} {
		warm[tenant] = makeBatch(tenant, 1, 100, 0)
		if err := cl.Write(t.Context(), warm[tenant]); err != nil {
			t.Fatal(err)
		}
	}
	hit, release := blockProduce(c)
	defer release()

	// acme's first batch holds its share of the buffer while Kafka sits on it.
	firstA := make(chan error, 1)
	go func() { firstA <- cl.Write(context.Background(), batchA) }()
	<-hit

	// acme's next batch does not fit in its share: 429 at once, with Retry-After.
	status, retryAfter, body := postBatch(t, srv.URL, makeBatch("acme", 100, 300, 2), "100")
	if status != http.StatusTooManyRequests || retryAfter != "1" || !strings.Contains(body, sinkwriter.ReasonTenantShareFull) {
		t.Errorf("acme over its share: %d, Retry-After %q, %s; want 429, 1, %s", status, retryAfter, body, sinkwriter.ReasonTenantShareFull)
	}
	err := cl.Write(t.Context(), makeBatch("acme", 100, 300, 3))
	var se *shed.Error
	if !errors.As(err, &se) || !errors.Is(err, shed.ErrFull) || se.Reason != sinkwriter.ReasonTenantShareFull || se.RetryAfter != time.Second {
		t.Errorf("client Write for acme over its share = %v, want a full shed %s after 1s", err, sinkwriter.ReasonTenantShareFull)
	}

	// globex is within its share: its batch is taken (it waits for Kafka like acme's).
	batchB := makeBatch("globex", 100, 300, 4)
	firstB := make(chan error, 1)
	go func() { firstB <- cl.Write(context.Background(), batchB) }()
	waitFor(t, "globex's batch to be reserved", func() bool {
		return metric(t, reg, "ingest_sinkwriter_buffer_bytes") == float64(size+int64(len(batchB.Data)))
	})
	release()
	if err := <-firstA; err != nil {
		t.Errorf("acme's first batch: %v", err)
	}
	if err := <-firstB; err != nil {
		t.Errorf("globex's batch within its share: %v, want success", err)
	}
	checkInKafka(t, c.ListenAddrs(), "ingest.globex", warm["globex"], batchB)
	if got := metric(t, reg, "ingest_sinkwriter_shed_total", "reason", sinkwriter.ReasonTenantShareFull, "tenant", "acme"); got != 2 {
		t.Errorf("sheds of acme = %v, want 2", got)
	}
	if got := metric(t, reg, "ingest_sinkwriter_shed_total", "reason", sinkwriter.ReasonTenantShareFull, "tenant", "globex"); got != 0 {
		t.Errorf("sheds of globex = %v, want 0", got)
	}
	if got := metric(t, reg, "ingest_sinkwriter_batches_total", "code", "429"); got != 2 {
		t.Errorf("batches answered 429 = %v, want 2", got)
	}
}

func TestFullBufferGets429ForEveryTenant(t *testing.T) {
	c := newCluster(t)
	size := int64(len(makeBatch("t0", 100, 300, 0).Data))
	cfg := testConfig(c.ListenAddrs())
	cfg.MaxBufferBytes = 2*size + size/2
	cfg.TenantShare = 0.5 // a tenant's share: 1.25 batches; the buffer: 2.5
	cfg.MaxBatchBytes = size
	w, reg := newWriter(t, cfg)
	for _, tenant := range []string{"t0", "t1", "t2"} {
		if err := w.Write(t.Context(), makeBatch(tenant, 1, 100, 0)); err != nil {
			t.Fatal(err)
		}
	}
	hit, release := blockProduce(c)
	defer release()
	errs := make(chan error, 2)
	for _, tenant := range []string{"t0", "t1"} {
		go func() { errs <- w.Write(context.Background(), makeBatch(tenant, 100, 300, 1)) }()
	}
	<-hit
	waitFor(t, "both batches to be reserved", func() bool {
		return metric(t, reg, "ingest_sinkwriter_buffer_bytes") == float64(2*size)
	})
	err := w.Write(t.Context(), makeBatch("t2", 100, 300, 1))
	var se *shed.Error
	if !errors.As(err, &se) || !errors.Is(err, shed.ErrFull) || se.Reason != sinkwriter.ReasonSinkFull {
		t.Errorf("Write with the buffer full = %v, want a full shed %s", err, sinkwriter.ReasonSinkFull)
	}
	release()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("held batch: %v", err)
		}
	}
	if err := w.Write(t.Context(), makeBatch("t2", 100, 300, 2)); err != nil {
		t.Errorf("Write once the buffer drained: %v", err)
	}
}

func TestKafkaUnreachablePastDeadlineAnswers503(t *testing.T) {
	c := newCluster(t)
	cfg := testConfig(c.ListenAddrs())
	cfg.KafkaTimeout = time.Second
	w, reg := newWriter(t, cfg)
	srv := serve(t, w)
	if err := w.Write(t.Context(), makeBatch("acme", 10, 100, 1)); err != nil {
		t.Fatal(err)
	}
	c.Close()

	start := time.Now()
	status, retryAfter, body := postBatch(t, srv.URL, makeBatch("acme", 10, 100, 2), "10")
	if status != http.StatusServiceUnavailable || retryAfter != "5" || !strings.Contains(body, sinkwriter.ReasonKafkaUnavailable) {
		t.Errorf("with Kafka gone: %d, Retry-After %q, %s; want 503, 5, %s", status, retryAfter, body, sinkwriter.ReasonKafkaUnavailable)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("503 took %v, want about kafka_timeout (1s)", d)
	}
	// Kafka is now known to be down: the next batch is refused at once.
	start = time.Now()
	err := w.Write(t.Context(), makeBatch("acme", 10, 100, 3))
	if !errors.Is(err, shed.ErrUnavailable) {
		t.Errorf("Write with Kafka known down = %v, want an unavailable shed", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("refusing with Kafka known down took %v, want less than kafka_timeout", d)
	}
	waitFor(t, "the failed records to release the buffer", func() bool {
		return metric(t, reg, "ingest_sinkwriter_buffer_bytes") == 0
	})
	if code, _, _ := getStatus(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Kafka gone = %d, want 503", code)
	}
	if got := metric(t, reg, "ingest_sinkwriter_shed_total", "reason", sinkwriter.ReasonKafkaUnavailable, "tenant", "acme"); got != 2 {
		t.Errorf("sheds = %v, want 2", got)
	}
}

func TestReadyzFollowsKafka(t *testing.T) {
	c := newCluster(t)
	w, _ := newWriter(t, testConfig(c.ListenAddrs()))
	srv := serve(t, w)
	if code, _, body := getStatus(t, srv.URL+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %s, want 200", code, body)
	}
	if code, _, _ := getStatus(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	w.Drain()
	if code, _, _ := getStatus(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining = %d, want 503", code)
	}
}

func TestShutdownWaitsForBatchesInProgressThenRefuses(t *testing.T) {
	c := newCluster(t)
	w, _ := newWriter(t, testConfig(c.ListenAddrs()))
	if err := w.Write(t.Context(), makeBatch("acme", 1, 100, 0)); err != nil {
		t.Fatal(err)
	}
	hit, release := blockProduce(c)
	b := makeBatch("acme", 50, 100, 1)
	done := make(chan error, 1)
	go func() { done <- w.Write(context.Background(), b) }()
	<-hit
	shut := make(chan error, 1)
	go func() { shut <- w.Shutdown(t.Context()) }()
	waitFor(t, "Shutdown to stop intake", func() bool {
		return errors.Is(w.Ready(t.Context()), sinkwriter.ErrShuttingDown)
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a batch in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Errorf("batch in progress at shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	err := w.Write(t.Context(), makeBatch("acme", 1, 100, 3))
	var se *shed.Error
	if !errors.As(err, &se) || se.Reason != sinkwriter.ReasonShuttingDown {
		t.Errorf("Write after Shutdown = %v, want %s", err, sinkwriter.ReasonShuttingDown)
	}
	if err := w.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func getStatus(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header, sb.String()
}
