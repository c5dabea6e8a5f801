package loader

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// The memory measurement: a loader drains a backlog of LOADER_MEMORY_MB (default 256) MiB of
// encoded records, mixed signals over memTenants topics of memPartitions partitions each,
// produced with zstd as the sink writer does, into the private ClickHouse, while its heap and
// RSS are sampled. Kafka (kfake) and the producer run in a child process, so that this
// process's heap is the loader's alone. Opt-in (it takes a minute and a few hundred MiB):
//
//	LOADER_MEMORY=1 go test -run TestLoaderMemoryDrainingABacklog -v ./sinkwriter/loader
//
// LOADER_MEMORY_FLUSH_MIB (default 16) is flush_bytes, LOADER_MEMORY_FETCH_MIB (default: the
// loader's, 4) fetch_max_bytes, LOADER_MEMORY_LIMIT_MIB memory_limit (default: the loader's own; -1: off),
// LOADER_MEMORY_PROFILE a file for the heap profile taken at the peak of the live heap.
const (
	memTenants    = 4
	memPartitions = 6
)

// TestLoaderMemoryDrainingABacklog reports the loader's peak heap and RSS while it drains a
// backlog, and checks them against the bound the documentation states (see Config.FlushBytes).
func TestLoaderMemoryDrainingABacklog(t *testing.T) {
	if os.Getenv("LOADER_MEMORY") == "" {
		t.Skip("set LOADER_MEMORY=1 to measure the loader's memory while it drains a backlog")
	}
	mib := func(key string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
			return v
		}
		return def
	}
	backlog, flushMiB, fetchMiB := mib("LOADER_MEMORY_MB", 256), mib("LOADER_MEMORY_FLUSH_MIB", 16), mib("LOADER_MEMORY_FETCH_MIB", int(DefaultConfig().FetchMaxBytes>>20))
	brokers, total, size := startBacklogChild(t, backlog)
	t.Logf("backlog: %d records, %.1f MiB encoded", total, float64(size)/(1<<20))

	ch := chtest.Start(t)
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, ch.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	baseRSS := rss()

	cfg := Config{
		Brokers: []string{brokers}, ClickHouseAddr: []string{ch.Addr()}, Database: "ingest", SkipMigrate: true,
		FlushBytes: flushMiB << 20, FetchMaxBytes: int32(fetchMiB << 20), FlushInterval: time.Second,
		Rollup: RollupConfig{Disabled: true},
	}
	if v := os.Getenv("LOADER_MEMORY_LIMIT_MIB"); v != "" {
		n, _ := strconv.Atoi(v)
		cfg.MemoryLimit = max(int64(n)<<20, -1)
	}
	limit := cfg.withDefaults().MemoryLimit
	defer setMemoryLimit(limit, discardLogger())() // as the service does
	l, err := New(cfg, prometheus.NewRegistry(), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- l.Run(runCtx) }()

	s := &memSampler{}
	stopSampling := s.run()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var n uint64
		if err := ch.Conn().QueryRow(ctx, "SELECT (SELECT count() FROM ingest.logs) + (SELECT count() FROM ingest.metrics) + (SELECT count() FROM ingest.spans)").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= uint64(total) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rows loaded within 10 minutes", n, total)
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(start)
	stopSampling()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var gcs runtime.MemStats
	runtime.ReadMemStats(&gcs)

	const m = 1 << 20
	t.Logf("drained %d records (%.1f MiB) in %v: %.0f records/s; %d GCs, GC CPU fraction %.3f",
		total, float64(size)/m, took.Round(time.Millisecond), float64(total)/took.Seconds(), gcs.NumGC, gcs.GCCPUFraction)
	t.Logf("flush_bytes %d MiB, fetch_max_bytes %d MiB, memory_limit %.1f MiB", flushMiB, fetchMiB, float64(limit)/m)
	t.Logf("peak: HeapInuse %.1f MiB, HeapSys %.1f MiB, NextGC %.1f MiB, live heap after GC %.1f MiB, RSS %.1f MiB (%.1f MiB before the loader started)",
		float64(s.heapInuse)/m, float64(s.heapSys)/m, float64(s.nextGC)/m, float64(s.live)/m, float64(s.rss)/m, float64(baseRSS)/m)
	if limit > 0 && s.heapInuse > uint64(limit) {
		t.Errorf("the heap in use peaked at %.1f MiB, above memory_limit %.1f MiB", float64(s.heapInuse)/m, float64(limit)/m)
	}
	if p := os.Getenv("LOADER_MEMORY_PROFILE"); p != "" && s.profile.Len() > 0 {
		if err := os.WriteFile(p, s.profile.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("heap profile at the peak live heap written to %s", p)
	}
}

// memSampler samples the heap and RSS every 20 ms and keeps their peaks, and a heap profile
// taken whenever a garbage collection found a live heap higher than the last profile's.
type memSampler struct {
	heapInuse, heapSys, nextGC, live, rss uint64
	profile                               bytes.Buffer
	profiled                              uint64
}

func (s *memSampler) run() (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		live := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			runtime.ReadMemStats(&ms)
			s.heapInuse = max(s.heapInuse, ms.HeapInuse)
			s.heapSys = max(s.heapSys, ms.HeapSys-ms.HeapReleased)
			s.nextGC = max(s.nextGC, ms.NextGC)
			s.rss = max(s.rss, rss())
			rtmetrics.Read(live)
			s.live = max(s.live, live[0].Value.Uint64())
			if ms.NextGC > s.profiled+s.profiled/20 {
				s.profiled = ms.NextGC
				s.profile.Reset()
				_ = pprof.Lookup("heap").WriteTo(&s.profile, 0)
			}
		}
	})
	return func() {
		close(quit)
		wg.Wait()
	}
}

// rss returns this process's resident set size, 0 when /proc cannot tell.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// startBacklogChild starts this test binary as the Kafka child (TestMemoryBacklogKafkaChild),
// which produces mb MiB of records and prints its broker address. It returns the address and
// the number and encoded size of the records.
func startBacklogChild(t *testing.T, mb int) (broker string, records, size int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryBacklogKafkaChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LOADER_MEMORY_CHILD="+strconv.Itoa(mb))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "BACKLOG %s %d %d", &broker, &records, &size); err == nil {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return broker, records, size
		}
	}
	t.Fatalf("the Kafka child ended without a backlog: %v", sc.Err())
	return "", 0, 0
}

// TestMemoryBacklogKafkaChild is the child process of TestLoaderMemoryDrainingABacklog: a
// kfake cluster holding the backlog, until its stdin closes.
func TestMemoryBacklogKafkaChild(t *testing.T) {
	mb, _ := strconv.Atoi(os.Getenv("LOADER_MEMORY_CHILD"))
	if mb == 0 {
		t.Skip("the child process of TestLoaderMemoryDrainingABacklog")
	}
	topics := make([]string, memTenants)
	for i := range topics {
		topics[i] = "ingest.tenant-" + strconv.Itoa(i)
	}
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(memPartitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	var compressed batchSizes
	prod, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.ProducerBatchMaxBytes(1_000_012), kgo.ProducerLinger(time.Millisecond),
		kgo.WithHooks(&compressed))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var records, size int
	var batch []*kgo.Record
	for i := 0; size < mb<<20; i++ {
		tenant := i % memTenants
		r := memRecord(rng, "tenant-"+strconv.Itoa(tenant), []record.Signal{record.SignalLog, record.SignalMetric, record.SignalSpan}[i%3], i)
		v := record.Append(nil, r)
		batch = append(batch, &kgo.Record{Topic: topics[tenant], Partition: int32(i/memTenants) % memPartitions, Key: r.EventID[:], Value: v})
		records++
		size += len(v)
		if len(batch) == 10_000 {
			if err := prod.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := prod.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	fmt.Fprintf(os.Stderr, "backlog compressed %d of %d bytes (ratio %.2f)\n", compressed.compressed.Load(), compressed.uncompressed.Load(),
		float64(compressed.uncompressed.Load())/float64(compressed.compressed.Load()))
	fmt.Printf("BACKLOG %s %d %d\n", kf.ListenAddrs()[0], records, size)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// batchSizes sums the sizes of the produced batches, before and after compression.
type batchSizes struct{ uncompressed, compressed atomic.Int64 }

func (b *batchSizes) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	b.uncompressed.Add(int64(m.UncompressedBytes))
	b.compressed.Add(int64(m.CompressedBytes))
}

// memRecord returns a record shaped like real telemetry, varied the way real traffic is:
// random ids, a handful of services, hosts and routes, numbers that change.
func memRecord(rng *rand.Rand, tenant string, sig record.Signal, i int) *record.Record {
	now := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC).UnixNano() + int64(i)*100_000
	routes := []string{"/api/v1/items/{id}", "/api/v1/cart", "/api/v1/checkout", "/healthz", "/api/v2/search"}
	r := &record.Record{
		Tenant: tenant, Signal: sig, Timestamp: now - rng.Int64N(5e9), ReceivedAt: now,
		Name: "http.server.request", Scope: "io.opentelemetry.http", Unit: "ms",
		Attributes: []record.KV{{Key: "http.method", Value: []string{"GET", "POST", "PUT"}[rng.IntN(3)]},
			{Key: "http.route", Value: routes[rng.IntN(len(routes))]},
			{Key: "http.status_code", Value: strconv.Itoa([]int{200, 200, 200, 201, 404, 500}[rng.IntN(6)])},
			{Key: "net.peer.ip", Value: "10.0." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(rng.IntN(256))},
			{Key: "user_agent", Value: "Mozilla/5.0 (X11; Linux x86_64) build/" + strconv.Itoa(rng.IntN(1000))}},
		Resource: []record.KV{{Key: "service.name", Value: "svc-" + strconv.Itoa(rng.IntN(12))},
			{Key: "host.name", Value: "node-" + strconv.Itoa(rng.IntN(64))}, {Key: "k8s.namespace.name", Value: "prod"}},
	}
	for j := range r.EventID {
		r.EventID[j] = byte(rng.Uint32())
	}
	switch sig {
	case record.SignalLog:
		r.HasTrace = true
		for j := range r.TraceID {
			r.TraceID[j] = byte(rng.Uint32())
		}
		r.SpanID[0], r.SpanID[1] = byte(rng.Uint32()), byte(rng.Uint32())
		r.SeverityNumber, r.SeverityText = 9, "INFO"
		r.Body = fmt.Sprintf("request %x served in %d us for client 10.0.3.%d with status %d", rng.Uint64(), rng.IntN(100_000), rng.IntN(256), 200)
	case record.SignalMetric:
		r.MetricKind, r.Value = record.MetricGauge, rng.Float64()*1000
		if i%6 == 1 {
			r.MetricKind, r.Temporality = record.MetricHistogram, record.TemporalityDelta
			r.HasDistribution, r.Count, r.Sum = true, uint64(rng.IntN(1000)), rng.Float64()*1e4
			r.Buckets = []record.Bucket{{UpperBound: 1, Count: uint64(rng.IntN(10))}, {UpperBound: 10, Count: uint64(rng.IntN(100))}, {UpperBound: 100, Count: uint64(rng.IntN(1000))}}
		}
	case record.SignalSpan:
		r.HasTrace = true
		for j := range r.TraceID {
			r.TraceID[j] = byte(rng.Uint32())
		}
		r.SpanID[0], r.ParentSpanID[0] = byte(rng.Uint32()), byte(rng.Uint32())
		r.Duration, r.SpanKind, r.StatusCode = rng.Int64N(1e9), 2, 1
	}
	return r
}
