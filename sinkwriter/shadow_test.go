package sinkwriter_test

import (
	"strings"
	"testing"

	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/client"
)

// TestShadowBatchGoesToTheShadowTopicOnly checks the shadow data path of the write path: a
// batch marked Shadow, written directly or through the internal API, lands in the tenant's
// shadow topic and nothing of it in the live topic, while an unmarked batch of the same tenant
// goes to the live topic only.
func TestShadowBatchGoesToTheShadowTopicOnly(t *testing.T) {
	c := newCluster(t)
	w, _ := newWriter(t, testConfig(c.ListenAddrs()))
	live := makeBatch("acme", 7, 100, 1)
	direct := makeBatch("acme", 5, 100, 2)
	direct.Shadow = true
	if err := w.Write(t.Context(), live); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(t.Context(), direct); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, w)
	cl := newClient(t, client.Config{URL: srv.URL})
	viaAPI := makeBatch("acme", 3, 100, 3)
	viaAPI.Shadow = true
	if err := cl.Write(t.Context(), viaAPI); err != nil {
		t.Fatal(err)
	}
	checkInKafka(t, c.ListenAddrs(), "ingest.acme", live)
	checkInKafka(t, c.ListenAddrs(), "ingest.acme.shadow", direct, viaAPI)
	if n := len(consume(t, c.ListenAddrs(), "ingest.acme", -1)); n != live.Count {
		t.Errorf("the live topic holds %d records, want only the %d live ones", n, live.Count)
	}
}

func TestTopicPatternEndingInTheShadowSuffixIsRefused(t *testing.T) {
	cfg := sinkwriter.DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:9092"}
	cfg.TopicPattern = "ingest.{tenant}.shadow"
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "topic_pattern") || !strings.Contains(err.Error(), ".shadow") {
		t.Fatalf("Validate = %v, want a topic_pattern error naming the shadow suffix", err)
	}
}
