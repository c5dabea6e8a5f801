package loader

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A topic deleted and created again (or a Kafka cluster wiped while ClickHouse was kept) starts
// again at offset 0, while the ledger still holds the old incarnation's offsets: read as they
// are, they would skip the new incarnation's records. So the loader records, in the table
// loader_topics, which incarnation (Kafka topic id) of each topic its tables hold, and checks
// it before it takes the first record of a topic in a group session (and again when a
// partition's offsets go back). A topic whose id changed is held: its partitions are paused,
// none of its records is taken or committed, it is logged, counted and reported by Ready,
// until an operator accepts the new incarnation (Config.AcceptRecreatedTopics).

// ErrTopicRecreated is returned by Ready, wrapped with the topics' names, while a topic is
// held because its incarnation is not the one the tables hold (see Config.AcceptRecreatedTopics).
var ErrTopicRecreated = errors.New("topics held: recreated since the tables were loaded from them")

// errUnknownTopic means the brokers do not know a topic named in AcceptRecreatedTopics.
var errUnknownTopic = errors.New("the brokers do not know the topic")

// topicIDString is a Kafka topic id as Kafka prints it (unpadded URL-safe base64), "" when the
// broker has no topic ids (before Kafka 2.8) or the id is all zeros.
func topicIDString(id [16]byte) string {
	if id == ([16]byte{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// topicMeta is what the brokers say of a topic now.
type topicMeta struct {
	id   string          // "" when unavailable
	ends map[int32]int64 // high watermark per partition; only when asked for
}

// topicDescriber asks the brokers about topics, bypassing every cache. Topics missing from
// the result do not exist. ends lists the topics whose high watermarks are wanted. It is the
// seam the tests replace (kafkaTopics asks Kafka).
type topicDescriber interface {
	describe(ctx context.Context, topics, ends []string) (map[string]topicMeta, error)
}

// incarnationStore keeps, in ClickHouse, the incarnation of each topic the tables hold. It is
// the seam the tests replace (chTopics is ClickHouse).
type incarnationStore interface {
	// recorded returns the recorded id of every topic that has one.
	recorded(ctx context.Context) (map[string]string, error)
	// record records id as the incarnation of topic the tables hold from now on.
	record(ctx context.Context, topic, id string) error
	// forget deletes the ledger entries of topic, every table, and returns once they are gone.
	forget(ctx context.Context, topic string) error
}

// verdict is what a check decided of a topic.
type verdict int

const (
	verdictOK     verdict = iota // consume: the recorded incarnation, or none recordable
	verdictRecord                // consume after recording the current id (none recorded yet)
	verdictNewID                 // held: the recorded id is not the current one
	verdictFewer                 // held: no usable id, and the ledger is at or past a high watermark
)

// decide is the rule of a check: recorded is the recorded id ("" for none), cur the current
// one ("" when unavailable), ahead whether the ledger holds an offset at or past a partition's
// high watermark (only computed when needed: cur == "" or recorded == "").
func decide(recorded, cur string, ahead bool) verdict {
	switch {
	case cur != "" && recorded != "" && cur == recorded:
		return verdictOK
	case cur != "" && recorded != "":
		return verdictNewID
	case ahead:
		return verdictFewer
	case cur != "":
		return verdictRecord
	default:
		return verdictOK
	}
}

// ledgerAhead reports whether led holds, for a partition of topic, an offset at or past its
// high watermark in ends: the tables hold more of the topic than the topic does.
func ledgerAhead(led map[ledgerKey]int64, topic string, ends map[int32]int64) bool {
	for k, off := range led {
		if k.topic != topic {
			continue
		}
		if end, ok := ends[k.partition]; ok && off >= end {
			return true
		}
	}
	return false
}

// heldTopic is a topic held for a conflict: what the operator reads.
type heldTopic struct {
	recorded, current string // ids; "" when unavailable
	reason            verdict
}

func (h heldTopic) message(topic string) string {
	if h.reason == verdictFewer {
		return fmt.Sprintf("topic %q holds fewer records than the tables hold of it (a partition's high watermark is at or below the offsets ledger) and the brokers give no topic id: "+
			"it was recreated or the brokers lost their data; its records are not loaded. If the topic is new, restart a loader with accept_recreated_topics: [%q] "+
			"(flag --accept-recreated-topic=%s) to load it from offset 0; the rows of the old incarnation stay in the tables", topic, topic, topic)
	}
	return fmt.Sprintf("topic %q has id %s, but the tables hold the incarnation with id %s: it was deleted and created again, or the brokers were wiped; its records are not loaded. "+
		"To load the new incarnation from offset 0, restart a loader with accept_recreated_topics: [%q] (flag --accept-recreated-topic=%s); the rows of the old incarnation stay in the tables",
		topic, h.current, h.recorded, topic, topic)
}

// incarnations checks the incarnation of the topics before their records are taken, and holds
// the topics in conflict.
//
// Concurrency: not safe for concurrent use; the consumer loop's goroutine owns it. It
// publishes the held topics to the readiness (safe for concurrent use).
type incarnations struct {
	store  incarnationStore
	kafka  topicDescriber
	gauge  *prometheus.GaugeVec // by topic: ingest_loader_topic_incarnation_conflicts
	log    *slog.Logger
	ready  *readiness
	checks int // checks run, for the tests

	// checked holds the topics found consumable in this session.
	checked map[string]bool
	// held holds the topics in conflict, across sessions while they stay assigned.
	held map[string]heldTopic
}

func newIncarnations(store incarnationStore, kafka topicDescriber, gauge *prometheus.GaugeVec, log *slog.Logger, ready *readiness) *incarnations {
	return &incarnations{store: store, kafka: kafka, gauge: gauge, log: log, ready: ready,
		checked: map[string]bool{}, held: map[string]heldTopic{}}
}

// newSession forgets what was checked; the held topics that are not in assigned are released
// (their new owner checks them: the caller resumes them), the others are to be checked again
// (recheck).
func (in *incarnations) newSession(assigned map[string][]int32) (recheck, released []string) {
	clear(in.checked)
	for topic := range in.held {
		if _, ok := assigned[topic]; ok {
			recheck = append(recheck, topic)
			continue
		}
		delete(in.held, topic)
		in.gauge.DeleteLabelValues(topic)
		released = append(released, topic)
	}
	in.publish()
	sort.Strings(recheck)
	sort.Strings(released)
	return recheck, released
}

// needsCheck reports whether topic must be checked before its records are taken.
func (in *incarnations) needsCheck(topic string) bool {
	_, held := in.held[topic]
	return !held && !in.checked[topic]
}

// isHeld reports whether topic is held: its records are not taken.
func (in *incarnations) isHeld(topic string) bool {
	_, held := in.held[topic]
	return held
}

// uncheck makes topic be checked again before its next record (its offsets went back).
func (in *incarnations) uncheck(topic string) { delete(in.checked, topic) }

// check checks topics against led (the session's ledger), records the ids of the topics that
// have none, and returns the topics newly held and those released. On error nothing changed
// for the topics not yet decided, and the caller retries.
func (in *incarnations) check(ctx context.Context, topics []string, led map[ledgerKey]int64) (hold, release []string, err error) {
	in.checks++
	rec, err := in.store.recorded(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The high watermarks are needed where the id cannot decide.
	ids, err := in.kafka.describe(ctx, topics, nil)
	if err != nil {
		return nil, nil, err
	}
	var ends []string
	for _, topic := range topics {
		meta, ok := ids[topic]
		if !ok {
			return nil, nil, fmt.Errorf("cannot check topic %q: the brokers do not know it (deleted?)", topic)
		}
		if meta.id == "" || rec[topic] == "" {
			ends = append(ends, topic)
		}
	}
	if len(ends) > 0 {
		withEnds, err := in.kafka.describe(ctx, ends, ends)
		if err != nil {
			return nil, nil, err
		}
		for _, topic := range ends {
			ids[topic] = topicMeta{id: ids[topic].id, ends: withEnds[topic].ends}
		}
	}
	for _, topic := range topics {
		meta := ids[topic]
		v := decide(rec[topic], meta.id, ledgerAhead(led, topic, meta.ends))
		switch v {
		case verdictRecord:
			if err := in.store.record(ctx, topic, meta.id); err != nil {
				return hold, release, err
			}
			in.log.Info("recorded the incarnation of a topic", "topic", topic, "topic_id", meta.id)
		case verdictNewID, verdictFewer:
			h := heldTopic{recorded: rec[topic], current: meta.id, reason: v}
			if old, ok := in.held[topic]; !ok || old != h {
				in.log.Error("topic held: "+h.message(topic), "topic", topic, "topic_id", meta.id, "recorded_topic_id", rec[topic])
			}
			if _, ok := in.held[topic]; !ok {
				hold = append(hold, topic)
			}
			in.held[topic] = h
			in.gauge.WithLabelValues(topic).Set(1)
			continue
		}
		if _, ok := in.held[topic]; ok {
			delete(in.held, topic)
			in.gauge.DeleteLabelValues(topic)
			release = append(release, topic)
			in.log.Info("topic released: its incarnation is the one the tables hold now", "topic", topic, "topic_id", meta.id)
		}
		in.checked[topic] = true
	}
	in.publish()
	return hold, release, nil
}

func (in *incarnations) publish() {
	if in.ready == nil {
		return
	}
	var held []string
	for topic, h := range in.held {
		held = append(held, h.message(topic))
	}
	sort.Strings(held)
	in.ready.holding(held)
}

// accept makes the tables take the current incarnation of topic (Config.AcceptRecreatedTopics):
// when the recorded id differs from the brokers' (or, without ids, the ledger is at or past a
// high watermark) it deletes the topic's ledger entries, then records the current id. It does
// nothing when there is nothing to accept. It returns whether it accepted.
func accept(ctx context.Context, store incarnationStore, kafka topicDescriber, topic string, log *slog.Logger, led ledgerReader) (bool, error) {
	metas, err := kafka.describe(ctx, []string{topic}, []string{topic})
	if err != nil {
		return false, err
	}
	meta, ok := metas[topic]
	if !ok {
		return false, fmt.Errorf("cannot accept the recreated topic %q: %w", topic, errUnknownTopic)
	}
	rec, err := store.recorded(ctx)
	if err != nil {
		return false, err
	}
	offsets, err := led.read(ctx)
	if err != nil {
		return false, err
	}
	switch decide(rec[topic], meta.id, ledgerAhead(offsets, topic, meta.ends)) {
	case verdictOK:
		log.Info("nothing to accept: the tables hold this incarnation of the topic; remove it from accept_recreated_topics", "topic", topic, "topic_id", meta.id)
		return false, nil
	case verdictRecord:
		log.Info("nothing to accept: no incarnation recorded and the ledger is behind the topic; recording this one; remove it from accept_recreated_topics", "topic", topic, "topic_id", meta.id)
		return false, store.record(ctx, topic, meta.id)
	}
	if err := store.forget(ctx, topic); err != nil {
		return false, err
	}
	if meta.id != "" {
		if err := store.record(ctx, topic, meta.id); err != nil {
			return false, err
		}
	}
	log.Warn("accepted a recreated topic: forgot its ledger entries; its records load from its first offset; the rows of the old incarnation stay in the tables; remove it from accept_recreated_topics",
		"topic", topic, "topic_id", meta.id, "recorded_topic_id", rec[topic])
	return true, nil
}

// chTopics is the table loader_topics and the ledger loader_offsets in ClickHouse.
type chTopics struct {
	conn     driver.Conn
	database string
	now      func() time.Time
}

func (ct *chTopics) recorded(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rows, err := ct.conn.Query(ctx, "SELECT kafka_topic, argMax(topic_id, version) FROM `"+ct.database+"`.loader_topics GROUP BY kafka_topic")
	if err != nil {
		return nil, fmt.Errorf("cannot read the topics' incarnations: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var topic, id string
		if err := rows.Scan(&topic, &id); err != nil {
			return nil, fmt.Errorf("cannot read the topics' incarnations: %w", err)
		}
		out[topic] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the topics' incarnations: %w", err)
	}
	return out, nil
}

func (ct *chTopics) record(ctx context.Context, topic, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now := ct.now()
	batch, err := ct.conn.PrepareBatch(ctx, "INSERT INTO `"+ct.database+"`.loader_topics (kafka_topic, topic_id, first_seen, version)")
	if err == nil {
		if err = batch.Append(topic, id, now, uint64(now.UnixNano())); err == nil {
			err = batch.Send()
		} else {
			_ = batch.Abort()
		}
	}
	if err != nil {
		return fmt.Errorf("cannot record incarnation %s of topic %q: %w", id, topic, err)
	}
	return nil
}

// forget deletes the ledger entries of topic with a mutation and waits, up to 5 minutes, for
// every mutation of the ledger to be done.
func (ct *chTopics) forget(ctx context.Context, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := ct.conn.Exec(ctx, "ALTER TABLE `"+ct.database+"`.loader_offsets DELETE WHERE kafka_topic = ?", topic); err != nil {
		return fmt.Errorf("cannot delete the ledger entries of topic %q: %w", topic, err)
	}
	for {
		var pending uint64
		if err := ct.conn.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND table = 'loader_offsets' AND is_done = 0",
			ct.database).Scan(&pending); err != nil {
			return fmt.Errorf("cannot wait for the deletion of the ledger entries of topic %q: %w", topic, err)
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot wait for the deletion of the ledger entries of topic %q: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// kafkaTopics asks the brokers with direct requests (kadm's metadata is cached).
type kafkaTopics struct{ cl *kgo.Client }

func (kt kafkaTopics) describe(ctx context.Context, topics, ends []string) (map[string]topicMeta, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, kt.cl)
	if err != nil {
		return nil, fmt.Errorf("cannot read the metadata of topics %q: %w", topics, err)
	}
	out := make(map[string]topicMeta, len(topics))
	for _, rt := range resp.Topics {
		if rt.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				continue
			}
			return nil, fmt.Errorf("cannot read the metadata of topic %q: %w", *rt.Topic, err)
		}
		out[*rt.Topic] = topicMeta{id: topicIDString(rt.TopicID)}
	}
	if len(ends) == 0 {
		return out, nil
	}
	listed, err := kadm.NewClient(kt.cl).ListEndOffsets(ctx, ends...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the end offsets of topics %q: %w", ends, err)
	}
	if err := listed.Error(); err != nil {
		return nil, fmt.Errorf("cannot read the end offsets of topics %q: %w", ends, err)
	}
	for topic, ps := range listed {
		meta, ok := out[topic]
		if !ok || !slices.Contains(ends, topic) {
			continue
		}
		meta.ends = make(map[int32]int64, len(ps))
		for p, lo := range ps {
			meta.ends[p] = lo.Offset
		}
		out[topic] = meta
	}
	return out, nil
}
