package sinkwriter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The replication the writer's and the loader's topics get when their replication factor is
// left at 0 (auto): SafeReplicationFactor replicas with min.insync.replicas
// SafeMinInsyncReplicas, so that an acks=all acknowledgement means at least two copies on
// different brokers and one broker may fail without stopping writes.
const (
	SafeReplicationFactor = 3
	SafeMinInsyncReplicas = 2
)

// minInsyncReplicas is the topic config that bounds the replicas an acks=all write needs.
const minInsyncReplicas = "min.insync.replicas"

// Replication is how a topic is created: its replication factor and topic configs.
type Replication struct {
	// Factor is the replication factor to create the topic with; -1 means the broker's
	// default.
	Factor int16
	// Configs are the topic configs to create the topic with: the configured ones, plus
	// min.insync.replicas=SafeMinInsyncReplicas when Factor is at least SafeReplicationFactor
	// and the configured ones do not set it. Nil when there are none.
	Configs map[string]*string
	// Brokers is the number of brokers the cluster reported when Factor was picked
	// automatically; 0 when Factor was configured.
	Brokers int
}

// Unreplicated says whether Factor was picked automatically and is below
// SafeReplicationFactor: the cluster has too few brokers for acknowledged data to survive the
// loss of a broker.
func (r Replication) Unreplicated() bool {
	return r.Brokers > 0 && r.Factor < SafeReplicationFactor
}

// Warning returns the message to log once when r is Unreplicated, naming the config key that
// sets the factor explicitly.
func (r Replication) Warning(key string) string {
	return fmt.Sprintf("the Kafka cluster has %d broker(s), fewer than %d: topics are created with replication factor %d, "+
		"so an acknowledged record may be on one broker only and is lost with that broker's disk; "+
		"add brokers (then topics created from then on get %d replicas; raise existing ones with a partition reassignment), "+
		"or set %s explicitly to accept this and silence this warning",
		r.Brokers, SafeReplicationFactor, r.Factor, SafeReplicationFactor, key)
}

// TopicReplication returns how to create a topic whose configured replication factor is factor
// and whose configured topic configs are configs (not modified). A factor of 0 means auto: it
// counts the cluster's live brokers with adm (a broker-only metadata request) and picks
// SafeReplicationFactor when there are that many, else the broker count (1 or 2). A factor
// above 0 or -1 (the broker's default) is used as it is: Kafka refuses a factor larger than its
// broker count (kerr.InvalidReplicationFactor). Whenever the factor is at least
// SafeReplicationFactor, min.insync.replicas defaults to SafeMinInsyncReplicas. It returns an
// error only when auto cannot reach the cluster, or the cluster reports no broker.
func TopicReplication(ctx context.Context, adm *kadm.Client, factor int16, configs map[string]*string) (Replication, error) {
	r := Replication{Factor: factor, Configs: configs}
	if factor == 0 {
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return r, fmt.Errorf("cannot count the Kafka brokers to pick a replication factor: %w", err)
		}
		r.Brokers = len(md.Brokers)
		if r.Brokers == 0 {
			return r, errors.New("cannot pick a replication factor: the Kafka cluster reports no broker")
		}
		r.Factor = int16(min(r.Brokers, SafeReplicationFactor))
	}
	if _, ok := configs[minInsyncReplicas]; !ok && r.Factor >= SafeReplicationFactor {
		r.Configs = maps.Clone(configs)
		if r.Configs == nil {
			r.Configs = make(map[string]*string, 1)
		}
		v := strconv.Itoa(SafeMinInsyncReplicas)
		r.Configs[minInsyncReplicas] = &v
	}
	return r, nil
}

// topics creates tenant topics on first use and remembers which exist. It is safe for
// concurrent use; concurrent first batches of a tenant share one CreateTopics request.
type topics struct {
	adm        *kadm.Client
	log        *slog.Logger
	partitions int32
	replicas   int16 // 0: auto (TopicReplication)
	configs    map[string]*string
	disabled   bool // DisableTopicCreation: every topic is assumed to exist

	created *prometheus.CounterVec // replication_factor
	warned  atomic.Bool            // the unreplicated warning was logged

	mu       sync.Mutex
	known    map[string]struct{}      // topics that exist
	creating map[string]chan struct{} // closed when the creation in progress ends
}

func newTopics(adm *kadm.Client, cfg Config, log *slog.Logger) *topics {
	t := &topics{
		adm:        adm,
		log:        log,
		partitions: cfg.TopicPartitions,
		replicas:   cfg.TopicReplicationFactor,
		disabled:   cfg.DisableTopicCreation,
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_sinkwriter_topics_created_total",
			Help: "Topics the writer created, by replication factor; below 3, acknowledged records of the topic survive no broker loss.",
		}, []string{"replication_factor"}),
		known:    make(map[string]struct{}),
		creating: make(map[string]chan struct{}),
	}
	if len(cfg.TopicConfigs) > 0 {
		t.configs = make(map[string]*string, len(cfg.TopicConfigs))
		for k, v := range cfg.TopicConfigs {
			t.configs[k] = &v
		}
	}
	return t
}

// ensure returns once topic exists, creating it if this process has not seen it yet. A topic
// that exists already is fine. ctx bounds the wait.
func (t *topics) ensure(ctx context.Context, topic string) error {
	if t.disabled {
		return nil
	}
	for {
		t.mu.Lock()
		if _, ok := t.known[topic]; ok {
			t.mu.Unlock()
			return nil
		}
		if ch, ok := t.creating[topic]; ok {
			t.mu.Unlock()
			select {
			case <-ch: // created, or failed: look again (and try ourselves if it failed)
				continue
			case <-ctx.Done():
				return fmt.Errorf("cannot create topic %q: %w", topic, context.Cause(ctx))
			}
		}
		ch := make(chan struct{})
		t.creating[topic] = ch
		t.mu.Unlock()

		err := t.create(ctx, topic)

		t.mu.Lock()
		delete(t.creating, topic)
		if err == nil {
			t.known[topic] = struct{}{}
		}
		t.mu.Unlock()
		close(ch)
		return err
	}
}

// create creates topic with the configured replication (auto: picked from the broker count,
// see TopicReplication), and logs once when the cluster is too small to replicate.
func (t *topics) create(ctx context.Context, topic string) error {
	r, err := TopicReplication(ctx, t.adm, t.replicas, t.configs)
	if err != nil {
		return fmt.Errorf("cannot create topic %q: %w", topic, err)
	}
	_, err = t.adm.CreateTopic(ctx, t.partitions, r.Factor, r.Configs, topic)
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return nil
	case errors.Is(err, kerr.InvalidReplicationFactor):
		return fmt.Errorf("cannot create topic %q with replication factor %d (topic_replication_factor; 0 picks it from the broker count): %w",
			topic, r.Factor, err)
	case err != nil:
		return fmt.Errorf("cannot create topic %q: %w", topic, err)
	}
	t.created.WithLabelValues(strconv.Itoa(int(r.Factor))).Inc()
	if r.Unreplicated() && t.warned.CompareAndSwap(false, true) {
		t.log.Warn(r.Warning("topic_replication_factor"), "brokers", r.Brokers, "replication_factor", r.Factor, "topic", topic)
	}
	return nil
}

// forget drops topic from the known topics, so that the next batch checks it again (after a
// produce failure: the topic may have been deleted).
func (t *topics) forget(topic string) {
	t.mu.Lock()
	delete(t.known, topic)
	t.mu.Unlock()
}
