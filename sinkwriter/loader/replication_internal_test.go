package loader

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ensureDeadLetterOn runs ensureDeadLetterTopic with a config of factor against a new kfake
// cluster of brokers brokers, and returns the replica count and min.insync.replicas of the
// dead-letter topic (0 and "" when it was not created) and what was logged.
func ensureDeadLetterOn(t *testing.T, brokers int, factor int16) (replicas int, minInsync, logs string) {
	t.Helper()
	kf, err := kfake.NewCluster(kfake.NumBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out bytes.Buffer // ensureDeadLetterTopic logs from this goroutine only
	l := &Loader{
		cfg: Config{Brokers: kf.ListenAddrs(), DeadLetterReplicationFactor: factor}.withDefaults(),
		log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.ensureDeadLetterTopic(ctx, cl); err != nil {
		t.Fatalf("ensureDeadLetterTopic = %v", err)
	}
	adm := kadm.NewClient(cl)
	topic := l.cfg.DeadLetterTopic
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatalf("cannot list %q: %v", topic, err)
	}
	if !td.Has(topic) {
		return 0, "", out.String()
	}
	for _, p := range td[topic].Partitions {
		replicas = len(p.Replicas)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == "min.insync.replicas" {
			minInsync = c.MaybeValue()
		}
	}
	return replicas, minInsync, out.String()
}

func TestDeadLetterTopicReplication(t *testing.T) {
	for _, tc := range []struct {
		name          string
		brokers       int
		factor        int16
		wantReplicas  int
		wantMinInsync string // kfake's default is 1
		wantWarning   string // "" none
	}{
		{"auto on 3 brokers: 3 replicas, min.insync.replicas 2", 3, 0, 3, "2", ""},
		{"auto on 1 broker: 1 replica and a warning", 1, 0, 1, "1", "brokers=1"},
		{"explicit factor wins", 3, 2, 2, "1", ""},
		{"a factor above the broker count is refused, naming the topic", 1, 3, 0, "", `level=WARN msg="cannot create the dead-letter topic; assuming it is provisioned" topic=ingest-deadletter replication_factor=3 err="INVALID_REPLICATION_FACTOR`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replicas, mir, logs := ensureDeadLetterOn(t, tc.brokers, tc.factor)
			if replicas != tc.wantReplicas || mir != tc.wantMinInsync {
				t.Errorf("replicas %d, min.insync.replicas %q; want %d, %q", replicas, mir, tc.wantReplicas, tc.wantMinInsync)
			}
			if tc.wantWarning == "" && logs != "" || !strings.Contains(logs, tc.wantWarning) {
				t.Errorf("logged %q, want %q", logs, tc.wantWarning)
			}
		})
	}
}
