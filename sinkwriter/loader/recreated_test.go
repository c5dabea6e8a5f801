package loader_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// topicID returns the topic id (incarnation) of topic, as the brokers report it now (a direct
// metadata request: kadm's are served from the client's cache).
func topicID(t *testing.T, e *env, topic string) [16]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, e.prod)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		if rt.Topic != nil && *rt.Topic == topic && rt.ErrorCode == 0 {
			return rt.TopicID
		}
	}
	t.Fatalf("topic %q not in the metadata", topic)
	return [16]byte{}
}

// recreateTopic deletes topic and creates it again with partitions partitions, and returns its
// ids before and after (they differ).
func recreateTopic(t *testing.T, e *env, topic string, partitions int32) (before, after [16]byte) {
	t.Helper()
	adm := kadm.NewClient(e.prod)
	before = topicID(t, e, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := adm.DeleteTopic(ctx, topic); err != nil || r.Err != nil {
		t.Fatalf("cannot delete %q: %v, %v", topic, err, r.Err)
	}
	if r, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("cannot create %q: %v, %v", topic, err, r.Err)
	}
	// A new producer: the old one knows the old incarnation's id and is refused.
	prod, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	e.prod = prod
	after = topicID(t, e, topic)
	if after == before || after == ([16]byte{}) {
		t.Fatalf("topic id after recreation %v, before %v: want a new, non-zero id", after, before)
	}
	return before, after
}

// runLoader runs a loader with cfg until the test ends or the returned stop is called.
func runLoader(t *testing.T, e *env, cfg loader.Config) (*loader.Loader, *prometheus.Registry, *testkit.Background) {
	t.Helper()
	reg := prometheus.NewRegistry()
	l, err := loader.New(cfg, reg, e.log)
	if err != nil {
		t.Fatal(err)
	}
	return l, reg, testkit.Go(t, time.Minute, l.Run)
}

// TestLoaderStopsLoudlyOnARecreatedTopicAndLoadsItOnceAccepted loads 30 records of a topic,
// deletes and recreates the topic (a new topic id, offsets from 0 again) and writes 10 new
// records to it. A loader must neither skip them by the old incarnation's ledger nor load them
// on its own: it pauses that topic, reports it (metric, Ready naming the topic) and keeps
// loading the other topic. Restarted with AcceptRecreatedTopics, it loads the 10 records from
// offset 0; restarted without, it keeps loading the new incarnation.
func TestLoaderStopsLoudlyOnARecreatedTopicAndLoadsItOnceAccepted(t *testing.T) {
	const acme, globex = "ingest.acme", "ingest.globex"
	e := newEnv(t, 1, []string{acme, globex})
	logs := func(tenant string, from, n int) []*record.Record {
		var recs []*record.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, makeRecord(tenant, record.SignalLog, i))
		}
		return recs
	}
	count := func(tenant string) string {
		return "SELECT count() FROM ingest.logs WHERE tenant = '" + tenant + "'"
	}
	e.produce(acme, 0, logs("acme", 0, 30)...)
	e.produce(globex, 0, logs("globex", 0, 5)...)
	_, stop := e.start(e.config())
	e.waitCount(count("acme"), 30, time.Minute)
	e.waitCount(count("globex"), 5, time.Minute)
	stop()

	before, after := recreateTopic(t, e, acme, 1)
	t.Logf("%s recreated: id %v, was %v", acme, after, before)
	e.produce(acme, 0, logs("acme", 100, 10)...)
	e.produce(globex, 0, logs("globex", 5, 5)...)

	// A loader finds the conflict: acme paused and reported, globex loaded.
	l, reg, run := runLoader(t, e, e.config())
	e.waitCount(count("globex"), 10, time.Minute)
	err := testkit.Poll(run.Exited(), 30*time.Second, 50*time.Millisecond, func() error {
		if got := testkit.MetricSum(t, reg, "ingest_loader_topic_incarnation_conflicts", "topic", acme); got != 1 {
			return fmt.Errorf("ingest_loader_topic_incarnation_conflicts{topic=%q} = %v (records skipped: %v, acme rows: %d)", acme, got,
				testkit.MetricSum(t, reg, "ingest_loader_records_skipped_total"), e.count(count("acme")))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("no conflict reported for the recreated topic: %v", err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	rerr := l.Ready(rctx)
	rcancel()
	if rerr == nil || !strings.Contains(rerr.Error(), acme) {
		t.Errorf("Ready = %v, want an error naming %s", rerr, acme)
	}
	if got := testkit.MetricSum(t, reg, "ingest_loader_records_skipped_total"); got != 0 {
		t.Errorf("ingest_loader_records_skipped_total = %v, want 0: the new incarnation's records are not the old one's", got)
	}
	if got := e.count(count("acme")); got != 30 {
		t.Errorf("acme rows = %d while the conflict stands, want the old 30", got)
	}
	e.produce(globex, 0, logs("globex", 10, 5)...) // other topics keep loading
	e.waitCount(count("globex"), 15, time.Minute)
	if err := run.Stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	acceptRecreated(t, e, acme)
}

// acceptRecreated is the operator's way out, checked after the conflict: a loader restarted
// with AcceptRecreatedTopics loads the new incarnation (10 records) from offset 0 and is
// ready; later loaders, without the option, keep loading it.
func acceptRecreated(t *testing.T, e *env, topic string) {
	t.Helper()
	count := "SELECT count() FROM ingest.logs WHERE tenant = 'acme'"
	cfg := e.config()
	cfg.AcceptRecreatedTopics = []string{topic}
	l, reg, run := runLoader(t, e, cfg)
	e.waitCount(count, 40, time.Minute)
	err := testkit.Poll(run.Exited(), 30*time.Second, 50*time.Millisecond, func() error {
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		defer rcancel()
		return l.Ready(rctx)
	})
	if err != nil {
		t.Errorf("Ready after the accept: %v", err)
	}
	if got := testkit.MetricSum(t, reg, "ingest_loader_topic_incarnation_conflicts"); got != 0 {
		t.Errorf("ingest_loader_topic_incarnation_conflicts = %v after the accept, want 0", got)
	}
	if got := testkit.MetricSum(t, reg, "ingest_loader_records_skipped_total"); got != 0 {
		t.Errorf("ingest_loader_records_skipped_total = %v after the accept, want 0", got)
	}
	if err := run.Stop(); err != nil {
		t.Errorf("Run: %v", err)
	}

	e.produce(topic, 0, makeRecord("acme", record.SignalLog, 200))
	_, reg, run = runLoader(t, e, e.config())
	e.waitCount(count, 41, time.Minute)
	if got := testkit.MetricSum(t, reg, "ingest_loader_topic_incarnation_conflicts"); got != 0 {
		t.Errorf("ingest_loader_topic_incarnation_conflicts = %v without the option after the accept, want 0", got)
	}
	if err := run.Stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := loader.New(loader.Config{Brokers: cfg.Brokers, ClickHouseAddr: cfg.ClickHouseAddr, AcceptRecreatedTopics: []string{"not-a-tenant-topic"}},
		prometheus.NewRegistry(), e.log); err == nil || !strings.Contains(err.Error(), "accept_recreated_topics") {
		t.Errorf("New with a topic topic_regex does not match = %v, want an accept_recreated_topics error", err)
	}
}
