package replay

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/internal/kafkaauth"
	"github.com/ingestdev/ingest/internal/kafkaauth/kafkaauthtest"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// TestReplayPlansOnASecuredThreeBrokerCluster: with PLAIN over TLS (replay.kafka) the replay
// plans a window of a 3-broker cluster that requires both: every offset and header read.
func TestReplayPlansOnASecuredThreeBrokerCluster(t *testing.T) {
	kf, ca := kafkaauthtest.Start(t, 3, kfake.SeedTopics(2, "ingest.acme"))
	sec := kafkaauthtest.Client(ca, kafkaauth.MechanismPlain)
	prod := kafkaauthtest.Producer(t, kf, sec)
	ch := chtest.Start(t)
	if _, err := schema.Migrate(context.Background(), ch.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ch: ch, kafka: kf, prod: prod}
	e.produce("acme", 2, 0, 100)
	m, _ := e.manager(Config{Kafka: sec}, &MemStore{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := m.Plan(ctx, PlanRequest{Tenant: "acme", From: i64(0), To: i64(50)})
	if err != nil {
		t.Fatal(err)
	}
	if j.Plan.Records != 100 || len(j.Plan.Partitions) != 2 {
		t.Errorf("plan: %d records over %d partitions, want 100 over 2", j.Plan.Records, len(j.Plan.Partitions))
	}
}
