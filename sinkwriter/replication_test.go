package sinkwriter_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/sinkwriter"
)

// writeTenants creates a writer for cfg that logs warnings into the returned buffer, writes
// one batch of each tenant (creating its topic), and returns the writer's registry.
func writeTenants(t *testing.T, c *kfake.Cluster, cfg sinkwriter.Config, tenants ...string) (*testkit.SyncBuffer, *prometheus.Registry) {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	w, reg := newWriterLogging(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	for i, tn := range tenants {
		if err := w.Write(context.Background(), makeBatch(tn, 3, 100, i)); err != nil {
			t.Fatalf("Write(%s) = %v", tn, err)
		}
	}
	return logs, reg
}

// topicReplication reads back the replica count of every partition of topic and its
// min.insync.replicas.
func topicReplication(t *testing.T, c *kfake.Cluster, topic string) (replicas []int, minInsync string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil || td[topic].Err != nil {
		t.Fatalf("cannot list topic %q: %v %v", topic, err, td[topic].Err)
	}
	for _, p := range td[topic].Partitions.Sorted() {
		replicas = append(replicas, len(p.Replicas))
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("cannot describe topic %q: %v", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("cannot describe topic %q: %v %v", topic, err, rc.Err)
	}
	for _, cfg := range rc.Configs {
		if cfg.Key == "min.insync.replicas" {
			minInsync = cfg.MaybeValue()
		}
	}
	return replicas, minInsync
}

// checkReplication fails t unless every partition of topic has want replicas and its
// min.insync.replicas is minInsync.
func checkReplication(t *testing.T, c *kfake.Cluster, topic string, want int, minInsync string) {
	t.Helper()
	replicas, mir := topicReplication(t, c, topic)
	if len(replicas) != 6 {
		t.Errorf("topic %q has %d partitions, want 6", topic, len(replicas))
	}
	for p, n := range replicas {
		if n != want {
			t.Errorf("partition %d of %q has %d replicas, want %d", p, topic, n, want)
		}
	}
	if mir != minInsync {
		t.Errorf("topic %q has min.insync.replicas %q, want %q", topic, mir, minInsync)
	}
}

func TestNewTopicOnThreeBrokersGetsThreeReplicasAndMinInsyncTwo(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3))
	logs, reg := writeTenants(t, c, testConfig(c.ListenAddrs()), "acme")
	checkReplication(t, c, "ingest.acme", 3, "2")
	if strings.Contains(logs.String(), "replication factor") {
		t.Errorf("a 3-broker cluster logged a replication warning:\n%s", logs)
	}
	if got := createdTopics(t, reg, "3"); got != 1 {
		t.Errorf("ingest_sinkwriter_topics_created_total{replication_factor=\"3\"} = %v, want 1", got)
	}
}

func TestNewTopicsOnOneBrokerGetOneReplicaAndAWarningOnce(t *testing.T) {
	c := newCluster(t) // one broker
	logs, reg := writeTenants(t, c, testConfig(c.ListenAddrs()), "acme", "globex")
	checkReplication(t, c, "ingest.acme", 1, "1") // kfake's default min.insync.replicas is 1
	checkReplication(t, c, "ingest.globex", 1, "1")
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Errorf("logged %d warnings, want 1:\n%s", n, out)
	}
	for _, want := range []string{"1 broker(s)", "brokers=1", "replication_factor=1", "add brokers", "topic_replication_factor"} {
		if !strings.Contains(out, want) {
			t.Errorf("the warning does not say %q:\n%s", want, out)
		}
	}
	if got := createdTopics(t, reg, "1"); got != 2 {
		t.Errorf("ingest_sinkwriter_topics_created_total{replication_factor=\"1\"} = %v, want 2", got)
	}
}

func TestNewTopicOnTwoBrokersGetsTwoReplicasAndAWarning(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(2))
	logs, _ := writeTenants(t, c, testConfig(c.ListenAddrs()), "acme")
	checkReplication(t, c, "ingest.acme", 2, "1")
	if !strings.Contains(logs.String(), "brokers=2") {
		t.Errorf("no warning naming 2 brokers:\n%s", logs)
	}
}

func TestAnExplicitReplicationSettingWins(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3))
	cfg := testConfig(c.ListenAddrs())

	cfg.TopicReplicationFactor = 2 // fewer than auto would pick: the operator's choice, no warning
	logs, _ := writeTenants(t, c, cfg, "acme")
	checkReplication(t, c, "ingest.acme", 2, "1")
	if logs.String() != "" {
		t.Errorf("an explicit factor logged:\n%s", logs)
	}

	cfg.TopicReplicationFactor = 0 // auto factor, explicit min.insync.replicas
	cfg.TopicConfigs = map[string]string{"min.insync.replicas": "3"}
	writeTenants(t, c, cfg, "globex")
	checkReplication(t, c, "ingest.globex", 3, "3")
}

func TestAReplicationFactorAboveTheBrokerCountIsAClearError(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3))
	cfg := testConfig(c.ListenAddrs())
	cfg.TopicReplicationFactor = 5
	w, _ := newWriter(t, cfg)
	err := w.Write(context.Background(), makeBatch("acme", 1, 100, 1))
	if !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("Write = %v, want INVALID_REPLICATION_FACTOR", err)
	}
	for _, want := range []string{`"ingest.acme"`, "replication factor 5", "topic_replication_factor"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Write = %v, want it to say %s", err, want)
		}
	}
}

// createdTopics returns ingest_sinkwriter_topics_created_total{replication_factor=factor} of reg.
func createdTopics(t *testing.T, reg *prometheus.Registry, factor string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ingest_sinkwriter_topics_created_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "replication_factor" && l.GetValue() == factor {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
