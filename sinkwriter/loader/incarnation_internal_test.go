package loader

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeTopics is both sides of an incarnation check: the brokers' ids and high watermarks
// (ids, ends; a topic without an id has "" and is known) and the recorded ids (recordedIDs),
// with the calls counted. By default every topic is known with id "id-1".
type fakeTopics struct {
	mu          sync.Mutex
	ids         map[string]string          // topic → current id; missing: "id-1"
	ends        map[string]map[int32]int64 // topic → high watermarks
	unknown     map[string]bool            // topics the brokers do not know
	recordedIDs map[string]string
	forgotten   []string
	failing     int // the next failing calls of recorded fail
}

func newFakeTopics() *fakeTopics {
	return &fakeTopics{ids: map[string]string{}, ends: map[string]map[int32]int64{}, unknown: map[string]bool{}, recordedIDs: map[string]string{}}
}

func (ft *fakeTopics) describe(_ context.Context, topics, ends []string) (map[string]topicMeta, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	out := map[string]topicMeta{}
	for _, t := range topics {
		if ft.unknown[t] {
			continue
		}
		id, ok := ft.ids[t]
		if !ok {
			id = "id-1"
		}
		out[t] = topicMeta{id: id}
	}
	for _, t := range ends {
		if m, ok := out[t]; ok {
			m.ends = maps.Clone(ft.ends[t])
			out[t] = m
		}
	}
	return out, nil
}

func (ft *fakeTopics) recorded(context.Context) (map[string]string, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.failing > 0 {
		ft.failing--
		return nil, errors.New("clickhouse down")
	}
	return maps.Clone(ft.recordedIDs), nil
}

func (ft *fakeTopics) record(_ context.Context, topic, id string) error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.recordedIDs[topic] = id
	return nil
}

func (ft *fakeTopics) forget(_ context.Context, topic string) error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.forgotten = append(ft.forgotten, topic)
	return nil
}

func TestDecideHoldsEveryTopicWhoseIncarnationIsNotTheTables(t *testing.T) {
	for _, tc := range []struct {
		name              string
		recorded, current string
		ahead             bool
		want              verdict
	}{
		{"same id", "a", "a", false, verdictOK},
		{"same id, ledger ahead (ids decide)", "a", "a", true, verdictOK},
		{"new id", "a", "b", false, verdictNewID},
		{"nothing recorded", "", "b", false, verdictRecord},
		{"nothing recorded, ledger ahead (recreated before the upgrade)", "", "b", true, verdictFewer},
		{"no ids from the brokers", "", "", false, verdictOK},
		{"no ids, ledger ahead", "", "", true, verdictFewer},
		{"recorded, brokers lost ids, ledger behind", "a", "", false, verdictOK},
		{"recorded, brokers lost ids, ledger ahead", "a", "", true, verdictFewer},
	} {
		if got := decide(tc.recorded, tc.current, tc.ahead); got != tc.want {
			t.Errorf("%s: decide(%q, %q, %v) = %v, want %v", tc.name, tc.recorded, tc.current, tc.ahead, got, tc.want)
		}
	}
}

// TestConsumerHoldsARecreatedTopicAndLoadsTheOthers runs the loop over two topics, one of
// which has another id than the recorded one: its records are neither buffered, skipped nor
// committed, its topic is paused and counted; the other topic loads.
func TestConsumerHoldsARecreatedTopicAndLoadsTheOthers(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{{tableLogs, "ingest.acme", 0}: 100}}
	c, fc, g := newTestConsumer(t, ch, time.Hour)
	ft := c.inc.store.(*fakeTopics)
	c.inc.kafka = ft
	ft.recordedIDs["ingest.acme"] = "old"
	ft.ids["ingest.acme"] = "new"
	ready := newReadiness("g")
	c.inc.ready = ready
	recs := append(logRecords(5), logRecordsOf("ingest.globex", 3)...)
	c.backlog = recs
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(c.f.bufs[tableLogs].recs); got != 3 {
		t.Errorf("buffered %d records, want globex's 3", got)
	}
	if got := testutil.ToFloat64(c.m.recordsSkipped.WithLabelValues("logs")); got != 0 {
		t.Errorf("skipped %v records, want 0: a held topic's records are not skipped", got)
	}
	if got := testutil.ToFloat64(c.m.topicConflicts.WithLabelValues("ingest.acme")); got != 1 {
		t.Errorf("conflict gauge = %v, want 1", got)
	}
	if !g.isPaused("ingest.acme") || g.isPaused("ingest.globex") {
		t.Errorf("paused acme %v, globex %v; want acme only", g.isPaused("ingest.acme"), g.isPaused("ingest.globex"))
	}
	if held := ready.held.Load(); held == nil || len(*held) != 1 {
		t.Errorf("readiness holds %v, want acme", held)
	}
	if ft.recordedIDs["ingest.globex"] != "id-1" {
		t.Errorf("globex's id was not recorded: %v", ft.recordedIDs)
	}
	if err := c.flush(context.Background(), triggerRows); err != nil {
		t.Fatal(err)
	}
	commits, _ := fc.get()
	for _, cm := range commits {
		if _, ok := cm["ingest.acme"]; ok {
			t.Errorf("committed %v: a held topic's offsets must not move", cm)
		}
	}

	// A new session with the conflict resolved (accepted elsewhere): acme released, resumed.
	ft.mu.Lock()
	ft.recordedIDs["ingest.acme"] = "new"
	ft.mu.Unlock()
	c.onRevoked(context.Background(), nil, nil)
	c.onAssigned(context.Background(), nil, map[string][]int32{"ingest.acme": {0}, "ingest.globex": {0}})
	c.step.Lock()
	c.applyRebalance()
	err := c.drain(context.Background())
	c.step.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if g.isPaused("ingest.acme") {
		t.Error("acme still paused after its conflict was resolved")
	}
	if held := ready.held.Load(); held != nil && len(*held) != 0 {
		t.Errorf("readiness still holds %v", *held)
	}
	if got := testutil.CollectAndCount(c.m.topicConflicts); got != 0 {
		t.Errorf("conflict gauge has %d series, want 0", got)
	}
}

// TestConsumerChecksAgainWhenOffsetsGoBack: a partition whose offsets go back within a session
// (the topic recreated while assigned) is checked again before its records are taken.
func TestConsumerChecksAgainWhenOffsetsGoBack(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}}
	c, _, g := newTestConsumer(t, ch, time.Hour)
	ft := c.inc.store.(*fakeTopics)
	c.inc.kafka = ft
	c.backlog = logRecords(5)
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	ft.mu.Lock()
	ft.ids["ingest.acme"] = "new"
	ft.mu.Unlock()
	c.backlog = logRecords(2) // offsets 0 and 1 again
	c.scanned = false
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !g.isPaused("ingest.acme") {
		t.Error("acme not paused after its offsets went back into a new incarnation")
	}
	if got := len(c.f.bufs[tableLogs].recs); got != 5 {
		t.Errorf("buffered %d records, want the first incarnation's 5", got)
	}
}

// TestConsumerRetriesAFailedCheckWithoutTakingRecords: while the recorded ids cannot be read,
// no record is taken.
func TestConsumerRetriesAFailedCheckWithoutTakingRecords(t *testing.T) {
	c, _, _ := newTestConsumer(t, &fakeCH{ledger: map[ledgerKey]int64{}}, time.Hour)
	ft := c.inc.store.(*fakeTopics)
	ft.failing = 1
	c.backlog = logRecords(3)
	if err := c.drain(context.Background()); !errors.Is(err, errRetry) {
		t.Fatalf("drain = %v, want errRetry", err)
	}
	if got := len(c.f.bufs[tableLogs].recs); got != 0 || len(c.backlog) != 3 {
		t.Fatalf("buffered %d, backlog %d; want 0 and 3", got, len(c.backlog))
	}
	if err := c.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(c.f.bufs[tableLogs].recs); got != 3 {
		t.Errorf("buffered %d records after the retry, want 3", got)
	}
}

// TestAcceptForgetsTheLedgerOnlyOfAConflict: accept deletes a topic's ledger entries and
// records its id when it is in conflict (new id; no id and the ledger ahead), and does
// nothing else otherwise.
func TestAcceptForgetsTheLedgerOnlyOfAConflict(t *testing.T) {
	ctx := context.Background()
	log := discardLogger()
	ft := newFakeTopics()
	led := &fakeCH{ledger: map[ledgerKey]int64{{tableLogs, "ingest.acme", 0}: 29}}
	ft.recordedIDs["ingest.acme"] = "old"
	ft.ids["ingest.acme"] = "new"
	if ok, err := accept(ctx, ft, ft, "ingest.acme", log, led); err != nil || !ok {
		t.Fatalf("accept of a new id = %v, %v; want true", ok, err)
	}
	if ft.recordedIDs["ingest.acme"] != "new" || len(ft.forgotten) != 1 {
		t.Errorf("recorded %v, forgotten %v", ft.recordedIDs, ft.forgotten)
	}
	if ok, err := accept(ctx, ft, ft, "ingest.acme", log, led); err != nil || ok {
		t.Errorf("accept again = %v, %v; want false (nothing to accept)", ok, err)
	}
	// No ids: only a ledger at or past the high watermark is a conflict.
	ft.ids["ingest.old"] = ""
	ft.ends["ingest.old"] = map[int32]int64{0: 10}
	led.ledger[ledgerKey{tableLogs, "ingest.old", 0}] = 9
	if ok, err := accept(ctx, ft, ft, "ingest.old", log, led); err != nil || ok {
		t.Errorf("accept of a topic ahead of the ledger = %v, %v; want false", ok, err)
	}
	led.ledger[ledgerKey{tableLogs, "ingest.old", 0}] = 10
	if ok, err := accept(ctx, ft, ft, "ingest.old", log, led); err != nil || !ok {
		t.Errorf("accept of a topic behind the ledger = %v, %v; want true", ok, err)
	}
	ft.unknown["ingest.gone"] = true
	if _, err := accept(ctx, ft, ft, "ingest.gone", log, led); !errors.Is(err, errUnknownTopic) {
		t.Errorf("accept of an unknown topic = %v, want errUnknownTopic", err)
	}
}

// logRecordsOf returns logRecords(n) of topic.
func logRecordsOf(topic string, n int) []*kgo.Record {
	out := logRecords(n)
	for _, r := range out {
		r.Topic = topic
	}
	return out
}
