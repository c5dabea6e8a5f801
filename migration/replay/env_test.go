package replay

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// baseTime is 2024-03-10 12:00:00 UTC in unix ns: the test events lie in the minutes after it.
const baseTime = int64(1710072000) * 1e9

// spacing is the event time between two consecutive test events of a tenant.
const spacing = 200 * time.Millisecond

// env is a private ClickHouse with the schema, an in-process Kafka (kfake) and a producer.
type env struct {
	t     testing.TB
	ch    *chtest.Server
	kafka *kfake.Cluster
	prod  *kgo.Client

	// On a cluster (newClusterEnv): its name, which the managers and the live loader get, and
	// the addresses the live loader inserts through (ch is the replica the managers reach).
	cluster     string
	loaderAddrs []string
}

func newEnv(t testing.TB, partitions int32, topics ...string) *env {
	t.Helper()
	ch := chtest.Start(t)
	if _, err := schema.Migrate(context.Background(), ch.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	return newKafkaEnv(t, ch, partitions, topics...)
}

// newClusterEnv is newEnv on cluster cl (chtest.StartCluster), migrated with MigrateCluster:
// the managers reach managerReplica, the live loader inserts into loaderReplica first.
func newClusterEnv(t testing.TB, cl *chtest.Cluster, managerReplica, loaderReplica int, partitions int32, topics ...string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := schema.MigrateCluster(ctx, cl.Replicas[managerReplica].Conn(), "ingest", chtest.ClusterName); err != nil {
		t.Fatal(err)
	}
	e := newKafkaEnv(t, cl.Replicas[managerReplica], partitions, topics...)
	e.cluster = chtest.ClusterName
	e.loaderAddrs = []string{cl.Replicas[loaderReplica].Addr()}
	for i, r := range cl.Replicas {
		if i != loaderReplica {
			e.loaderAddrs = append(e.loaderAddrs, r.Addr())
		}
	}
	return e
}

// newKafkaEnv is an env on ch, whose schema is migrated, with a new kfake cluster.
func newKafkaEnv(t testing.TB, ch *chtest.Server, partitions int32, topics ...string) *env {
	t.Helper()
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return &env{t: t, ch: ch, kafka: kf, prod: prod}
}

// event returns the i-th test event of tenant: signals in turn, every field set and varied.
func event(tenant string, i int) *record.Record {
	sig := signals[i%3]
	ts := baseTime + int64(i)*int64(spacing) + 7
	r := &record.Record{Tenant: tenant, Signal: sig, Timestamp: ts, ReceivedAt: ts + 3e9,
		Name: "name-" + strconv.Itoa(i%5), Scope: "scope", Unit: []string{"ms", "1"}[i%2],
		Attributes: []record.KV{{Key: "host", Value: "h" + strconv.Itoa(i%3)}, {Key: "i", Value: strconv.Itoa(i)}},
		Resource:   []record.KV{{Key: "service.name", Value: "svc-" + tenant}},
	}
	r.EventID[0] = byte(sig)
	copy(r.EventID[1:8], tenant)
	binary.BigEndian.PutUint64(r.EventID[8:], uint64(i))
	if i%2 == 0 {
		r.HasTrace = true
		binary.BigEndian.PutUint64(r.TraceID[:], uint64(i)+1)
		binary.BigEndian.PutUint64(r.SpanID[:], uint64(i)*17+3)
	}
	switch sig {
	case record.SignalLog:
		r.SeverityNumber, r.SeverityText, r.Body = uint8(i%24), "INFO", fmt.Sprintf("log line %d ✓", i)
	case record.SignalMetric:
		if i%2 == 0 {
			r.MetricKind, r.Value = record.MetricGauge, float64(i)*0.5
		} else {
			r.MetricKind, r.Temporality = record.MetricHistogram, record.TemporalityDelta
			r.HasDistribution, r.Count, r.Sum = true, uint64(i+3), float64(i)*2.5
			r.Buckets = []record.Bucket{{UpperBound: 1, Count: 1}, {UpperBound: math.Inf(1), Count: uint64(i) + 2}}
		}
	case record.SignalSpan:
		r.Duration, r.SpanKind, r.StatusCode = int64(i)*1000+17, uint8(i%6), uint8(i%3)
	}
	return r
}

// produce writes events [lo, hi) of tenant to its topic, event i to partition i % partitions.
func (e *env) produce(tenant string, partitions, lo, hi int) {
	e.t.Helper()
	var krs []*kgo.Record
	for i := lo; i < hi; i++ {
		r := event(tenant, i)
		krs = append(krs, &kgo.Record{Topic: "ingest." + tenant, Partition: int32(i % partitions), Key: append([]byte(nil), r.EventID[:]...), Value: record.Append(nil, r)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.prod.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		e.t.Fatalf("cannot produce: %v", err)
	}
}

// liveLoader runs the live loader (consumer group ingest-loader) until the test ends.
func (e *env) liveLoader() {
	e.t.Helper()
	addrs := e.loaderAddrs
	if addrs == nil {
		addrs = []string{e.ch.Addr()}
	}
	l, err := loader.New(loader.Config{
		Brokers: e.kafka.ListenAddrs(), ClickHouseAddr: addrs, ClickHouseCluster: e.cluster, Database: "ingest",
		FlushInterval: 200 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		InsertTimeout: 5 * time.Second, RebalanceTimeout: 10 * time.Second, SessionTimeout: 3 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond, TopicRefreshInterval: time.Second, ShutdownTimeout: 5 * time.Second,
	}, nil, quietLog())
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("live loader: %v", err)
		}
	})
}

// count runs a query returning one UInt64.
func (e *env) count(query string, args ...any) uint64 {
	e.t.Helper()
	var n uint64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.ch.Conn().QueryRow(ctx, query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitCount waits until query returns want.
func (e *env) waitCount(query string, want uint64, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var got uint64
	for time.Now().Before(deadline) {
		if got = e.count(query); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("%s = %d after %v, want %d", query, got, timeout, want)
}

// liveRows is the count and content hash of a tenant's rows in every live table, read with
// FINAL (the documented query path).
func (e *env) liveRows(tenant string) string {
	e.t.Helper()
	out := ""
	for _, s := range signals {
		var n, h uint64
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := e.ch.Conn().QueryRow(ctx, "SELECT count(), sum("+rowHash(s)+") FROM ingest."+liveTable(s)+" FINAL WHERE tenant = ?", tenant).Scan(&n, &h)
		cancel()
		if err != nil {
			e.t.Fatal(err)
		}
		out += fmt.Sprintf("%s %d rows %016x; ", liveTable(s), n, h)
	}
	return out
}

// committed returns the live consumer group's committed offsets, as text.
func (e *env) committed() string {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "ingest-loader")
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	offs.Each(func(o kadm.OffsetResponse) { out = append(out, fmt.Sprintf("%s/%d=%d", o.Topic, o.Partition, o.At)) })
	slices.Sort(out)
	return strings.Join(out, " ")
}

// manager returns a Manager on the env with store, running until the returned stop.
func (e *env) manager(cfg Config, store Store) (*Manager, func()) {
	e.t.Helper()
	cfg.Brokers = e.kafka.ListenAddrs()
	m, err := New(cfg, Options{Conn: e.ch.Conn(), Database: "ingest", Cluster: e.cluster, Store: store, Log: quietLog()})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m.mu.Lock()
		up := m.base != nil
		m.mu.Unlock()
		if up || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	return m, stop
}

// waitState waits until job id is in state want, failing on any other final state.
func waitState(t testing.TB, m *Manager, id string, want State, timeout time.Duration) Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j, err := m.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if j.State == StateFailed || time.Now().After(deadline) {
			t.Fatalf("replay %s is %s (error %q, %d/%d records), want %s", id, j.State, j.Error, j.Progress.RecordsDone, j.Progress.RecordsTotal, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func i64(v int64) *int64 { return &v }

// chConn connects to the ClickHouse at addr (a worker process's).
func chConn(t testing.TB, addr string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Database: "ingest", Username: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
