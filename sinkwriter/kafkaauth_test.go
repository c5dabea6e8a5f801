package sinkwriter_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/kafkaauth"
	"github.com/ingestdev/ingest/internal/kafkaauth/kafkaauthtest"
)

// TestWriterProducesToASecuredThreeBrokerCluster: with SCRAM-SHA-512 over TLS (kafka.sasl,
// kafka.tls) the writer creates the tenant's topic and makes a batch durable on a 3-broker
// cluster that requires both; with a wrong password the write fails within kafka_timeout and
// nothing is written.
func TestWriterProducesToASecuredThreeBrokerCluster(t *testing.T) {
	c, ca := kafkaauthtest.Start(t, 3)
	cfg := testConfig(c.ListenAddrs())
	cfg.Kafka = kafkaauthtest.Client(ca, kafkaauth.MechanismSCRAMSHA512)
	w, _ := newWriter(t, cfg)
	if err := w.Write(context.Background(), makeBatch("acme", 5, 100, 1)); err != nil {
		t.Fatalf("Write through SASL/TLS: %v", err)
	}

	bad := testConfig(c.ListenAddrs())
	bad.Kafka = kafkaauthtest.Client(ca, kafkaauth.MechanismSCRAMSHA512)
	bad.Kafka.SASL.Password = "wrong"
	wb, _ := newWriter(t, bad)
	if err := wb.Write(context.Background(), makeBatch("globex", 5, 100, 2)); err == nil {
		t.Error("a writer with a wrong password wrote a batch")
	}

	opts, err := kafkaauthtest.Client(ca, kafkaauth.MechanismPlain).Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("ingest.acme"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	for n < 5 && ctx.Err() == nil {
		n += cl.PollFetches(ctx).NumRecords()
	}
	if n != 5 {
		t.Errorf("read back %d records of ingest.acme, want 5", n)
	}
}
