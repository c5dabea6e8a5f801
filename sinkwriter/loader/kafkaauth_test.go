package loader_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/internal/kafkaauth"
	"github.com/ingestdev/ingest/internal/kafkaauth/kafkaauthtest"
	"github.com/ingestdev/ingest/record"
)

// TestLoaderConsumesASecuredThreeBrokerCluster: with SCRAM-SHA-256 over TLS (kafka.sasl,
// kafka.tls) the loader joins its group, creates its dead-letter topic and loads every record
// of a 3-broker cluster that requires both.
func TestLoaderConsumesASecuredThreeBrokerCluster(t *testing.T) {
	kf, ca := kafkaauthtest.Start(t, 3, kfake.SeedTopics(2, "ingest.acme"), kfake.GroupMinSessionTimeout(time.Second))
	sec := kafkaauthtest.Client(ca, kafkaauth.MechanismSCRAMSHA256)
	prod := kafkaauthtest.Producer(t, kf, sec)
	e := &env{t: t, ch: chtest.Start(t), kafka: kf, prod: prod, log: testLogger(t)}
	for p := int32(0); p < 2; p++ {
		var recs []*record.Record
		for i := range 50 {
			recs = append(recs, makeRecord("acme", record.SignalLog, int(p)*1000+i))
		}
		e.produce("ingest.acme", p, recs...)
	}
	cfg := e.config()
	cfg.Kafka = sec
	e.start(cfg)
	e.waitCount("SELECT count() FROM ingest.logs FINAL WHERE tenant = 'acme'", 100, time.Minute)
}
