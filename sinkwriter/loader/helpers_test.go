package loader_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/rollup/rolluptest"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// env is a private ClickHouse and an in-process Kafka (kfake) with a producer.
type env struct {
	t     testing.TB
	ch    *chtest.Server
	kafka *kfake.Cluster
	prod  *kgo.Client
	log   *slog.Logger
}

// newEnv starts ClickHouse and a one-broker Kafka with topics of partitions partitions each
// (opts may add kfake options, such as a fixed port).
func newEnv(t testing.TB, partitions int32, topics []string, opts ...kfake.Opt) *env {
	t.Helper()
	ch := chtest.Start(t)
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...), kfake.GroupMinSessionTimeout(time.Second)}, opts...)
	kf, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return &env{t: t, ch: ch, kafka: kf, prod: prod, log: testLogger(t)}
}

// config is a loader configuration for tests: fast flushes, retries and group membership.
func (e *env) config() loader.Config { return testConfig(e.kafka.ListenAddrs(), e.ch.Addr()) }

// testConfig is a loader of database ingest with the short timings of the tests (quick flushes,
// retries, rebalances and shutdown).
func testConfig(brokers []string, clickHouse ...string) loader.Config {
	return loader.Config{
		Brokers:              brokers,
		ClickHouseAddr:       clickHouse,
		Database:             "ingest",
		FlushInterval:        200 * time.Millisecond,
		RetryMin:             20 * time.Millisecond,
		RetryMax:             500 * time.Millisecond,
		InsertTimeout:        5 * time.Second,
		RebalanceTimeout:     10 * time.Second,
		SessionTimeout:       3 * time.Second,
		HeartbeatInterval:    500 * time.Millisecond,
		TopicRefreshInterval: time.Second,
		ShutdownTimeout:      5 * time.Second,
	}
}

// start runs a loader until the returned stop is called (or the test ends).
func (e *env) start(cfg loader.Config) (reg *prometheus.Registry, stop func()) {
	e.t.Helper()
	reg = prometheus.NewRegistry()
	l, err := loader.New(cfg, reg, e.log)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run: %v", err)
				}
			case <-time.After(time.Minute):
				e.t.Error("the loader did not stop within a minute")
			}
		})
	}
	e.t.Cleanup(stop)
	return reg, stop
}

// produce writes records to topic, partition p, keyed by event id.
func (e *env) produce(topic string, p int32, recs ...*record.Record) {
	e.t.Helper()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: topic, Partition: p, Key: append([]byte(nil), r.EventID[:]...), Value: record.Append(nil, r)}
	}
	e.produceRaw(krs...)
}

// produceRaw writes krs. It may be called from any goroutine: a failure is reported with
// Errorf (the counts the test checks then differ).
func (e *env) produceRaw(krs ...*kgo.Record) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.prod.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		e.t.Errorf("cannot produce: %v", err)
	}
}

// count runs a query that returns one UInt64.
func (e *env) count(query string, args ...any) uint64 {
	e.t.Helper()
	n, err := e.tryCount(query, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (e *env) tryCount(query string, args ...any) (n uint64, err error) {
	for range 5 { // the pool may hold connections from before a ClickHouse restart
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = e.ch.Conn().QueryRow(ctx, query, args...).Scan(&n)
		cancel()
		if err == nil {
			return n, nil
		}
	}
	return 0, err
}

// waitCount waits until query returns want, failing the test after timeout. Errors (the
// database not created yet) count as not yet.
func (e *env) waitCount(query string, want uint64, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var (
		got uint64
		err error
	)
	for time.Now().Before(deadline) {
		if got, err = e.tryCount(query); err == nil && got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("%s = %d (err %v) after %v, want %d", query, got, err, timeout, want)
}

// baseTime is 2024-03-10 12:00:00 UTC, in unix ns.
const baseTime = int64(1710072000) * 1e9

// makeRecord returns the i-th test record of tenant and signal, with every field of the
// signal set and varied: attributes, resource, trace context on some, histograms and
// summaries among the metrics.
func makeRecord(tenant string, sig record.Signal, i int) *record.Record {
	r := &record.Record{
		Tenant:     tenant,
		Signal:     sig,
		Timestamp:  baseTime + int64(i)*1_000_003 + 7, // ns precision that DateTime alone would lose
		ReceivedAt: baseTime + int64(i)*1_000_003 + 5_000_000_000,
		Name:       "name-" + strconv.Itoa(i%7),
		Scope:      "scope-" + strconv.Itoa(i%2),
		Unit:       []string{"ms", "bytes", "", "1"}[i%4],
		Attributes: []record.KV{{Key: "host", Value: "h" + strconv.Itoa(i%3)}, {Key: "i", Value: strconv.Itoa(i)}},
	}
	if i%3 != 0 {
		r.Resource = []record.KV{{Key: "service.name", Value: "svc-" + tenant}}
	}
	r.EventID[0] = byte(sig)
	copy(r.EventID[1:8], tenant)
	binary.BigEndian.PutUint64(r.EventID[8:], uint64(i))
	if sig == record.SignalSpan || i%2 == 0 {
		r.HasTrace = true
		binary.BigEndian.PutUint64(r.TraceID[:], uint64(i)+1)
		binary.BigEndian.PutUint64(r.TraceID[8:], uint64(i)*31+7)
		binary.BigEndian.PutUint64(r.SpanID[:], uint64(i)*17+3)
		if i%4 == 0 {
			binary.BigEndian.PutUint64(r.ParentSpanID[:], uint64(i)*13+1)
		}
	}
	switch sig {
	case record.SignalLog:
		r.SeverityNumber = uint8(i % 24)
		r.SeverityText = []string{"INFO", "WARN", "ERROR", ""}[i%4]
		r.Body = fmt.Sprintf("log line %d: \x00 ünïcode ✓", i)
	case record.SignalMetric:
		switch i % 4 {
		case 0:
			r.MetricKind, r.Value = record.MetricGauge, float64(i)*0.5
		case 1:
			r.MetricKind, r.Temporality, r.Monotonic, r.Value = record.MetricSum, record.TemporalityCumulative, true, float64(i)
		case 2:
			r.MetricKind, r.Temporality = record.MetricHistogram, record.TemporalityDelta
			r.HasDistribution, r.Count, r.Sum = true, uint64(i+3), float64(i)*2.5
			r.HasMinMax, r.Min, r.Max = true, 0.25, float64(i)+1
			r.Buckets = []record.Bucket{{UpperBound: 1, Count: 1}, {UpperBound: 10, Count: 2}, {UpperBound: math.Inf(1), Count: uint64(i)}}
		case 3:
			r.MetricKind = record.MetricSummary
			r.HasDistribution, r.Count, r.Sum = true, uint64(i), float64(i)*1.5
			r.Quantiles = []record.Quantile{{Quantile: 0.5, Value: 1.5}, {Quantile: 0.99, Value: float64(i)}}
		}
	case record.SignalSpan:
		r.Duration = int64(i)*1000 + 17
		r.SpanKind = uint8(i % 6)
		r.StatusCode = uint8(i % 3)
		if r.StatusCode == 2 {
			r.StatusMessage = "failed " + strconv.Itoa(i)
		}
	}
	return r
}

// safeWriter forwards to the test's log until the test ends (loggers of background goroutines
// may outlive it by a moment).
type safeWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *safeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("%s", p)
	}
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	w := &safeWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	var out io.Writer = w
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// produced counts what a producer wrote, per table.
type produced struct {
	mu    sync.Mutex
	table map[string]uint64
}

func (p *produced) add(sig record.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.table[map[record.Signal]string{record.SignalLog: "logs", record.SignalMetric: "metrics", record.SignalSpan: "spans"}[sig]]++
}

func (p *produced) get(table string) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.table[table]
}

// produceMixed writes n records of the three signals to topic's partitions, in batches of
// batch every pause, and returns once all are acknowledged.
func produceMixed(e *env, topic string, partitions int32, start, n, batch int, pause time.Duration, p *produced) {
	for i := start; i < start+n; i += batch {
		recs := make([][]*record.Record, partitions)
		for j := i; j < min(i+batch, start+n); j++ {
			sig := []record.Signal{record.SignalLog, record.SignalMetric, record.SignalSpan}[j%3]
			recs[j%int(partitions)] = append(recs[j%int(partitions)], makeRecord("acme", sig, j))
			p.add(sig)
		}
		for part, rs := range recs {
			if len(rs) > 0 {
				e.produce(topic, int32(part), rs...)
			}
		}
		time.Sleep(pause)
	}
}

// addWitnesses migrates the database and adds, per table, a plain MergeTree view that keeps
// one row per row ever inserted: duplicates that the ReplacingMergeTree tables fold in merges
// stay countable there.
func addWitnesses(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, e.ch.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"logs", "metrics", "spans"} {
		if err := e.ch.Conn().Exec(ctx, "CREATE MATERIALIZED VIEW ingest.test_witness_"+table+
			" ENGINE = MergeTree() ORDER BY tuple() AS SELECT event_id FROM ingest."+table); err != nil {
			t.Fatal(err)
		}
	}
}

// assertExactlyOnce checks every table holds exactly what was produced, counted in the
// witnesses (every row ever inserted: loader crashes and retries must not duplicate), without
// and with FINAL, and the roll-ups count every metric once (tenant acme's).
func assertExactlyOnce(t *testing.T, e *env, p *produced) {
	t.Helper()
	for _, table := range []string{"logs", "metrics", "spans"} {
		want := p.get(table)
		if got := e.count("SELECT count() FROM ingest.test_witness_" + table); got != want {
			t.Errorf("%s: %d rows inserted, want %d (duplicates or losses)", table, got, want)
		}
		if got := e.count("SELECT count() FROM ingest." + table); got != want {
			t.Errorf("%s: %d rows without FINAL, want %d (duplicates or losses)", table, got, want)
		}
		if got := e.count("SELECT uniqExact(event_id) FROM ingest." + table); got != want {
			t.Errorf("%s: %d distinct event ids, want %d", table, got, want)
		}
		if got := e.count("SELECT count() FROM ingest." + table + " FINAL"); got != want {
			t.Errorf("%s: %d rows with FINAL, want %d", table, got, want)
		}
	}
	// The roll-ups, once a worker caught up from the persisted cursor (whatever the loaders'
	// own workers did before they were killed): each metric counted once, and equal to a fresh
	// aggregation of metrics FINAL.
	rolluptest.Settle(t, e.ch.Conn(), "ingest", 2*time.Minute)
	for _, l := range rolluptest.Levels {
		if got, want := e.count("SELECT toUInt64(sum(points)) FROM ingest."+l.Table+" FINAL WHERE points > 0"), p.get("metrics"); got != want {
			t.Errorf("%s counts %d points, want %d", l.Table, got, want)
		}
	}
	rolluptest.AssertExact(t, e.ch.Conn(), "ingest", "", "acme")
	// The ledger's offset per table and partition is the highest offset the table holds.
	if n := e.count(`SELECT count() FROM (
		SELECT table_name, kafka_topic, kafka_partition, max(kafka_offset) AS o FROM ingest.loader_offsets GROUP BY table_name, kafka_topic, kafka_partition
	) AS l ANY LEFT JOIN (
		SELECT 'logs' AS table_name, kafka_topic, kafka_partition, toUInt64(max(kafka_offset)) AS m FROM ingest.logs GROUP BY kafka_topic, kafka_partition
		UNION ALL SELECT 'metrics' AS table_name, kafka_topic, kafka_partition, toUInt64(max(kafka_offset)) AS m FROM ingest.metrics GROUP BY kafka_topic, kafka_partition
		UNION ALL SELECT 'spans' AS table_name, kafka_topic, kafka_partition, toUInt64(max(kafka_offset)) AS m FROM ingest.spans GROUP BY kafka_topic, kafka_partition
	) AS d USING (table_name, kafka_topic, kafka_partition) WHERE o != m`); n != 0 {
		t.Errorf("%d ledger entries differ from the tables' highest offsets", n)
	}
}
