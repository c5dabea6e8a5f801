package loader_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// TestShadowTopicsLoadIntoTheShadowTablesOnly checks the loader's half of the shadow data path:
// the records of a tenant's shadow topic (ingest.<tenant>.shadow, mirrored traffic of a tenant
// in the shadow stage) land in the *_shadow tables, exactly once, and none in the live tables;
// the same tenant's live topic still loads into the live tables only.
func TestShadowTopicsLoadIntoTheShadowTablesOnly(t *testing.T) {
	e := newEnv(t, 2, []string{"ingest.acme", "ingest.acme.shadow"})
	signals := []record.Signal{record.SignalLog, record.SignalMetric, record.SignalSpan}
	live, shadow := map[record.Signal]uint64{}, map[record.Signal]uint64{}
	for i := range 90 {
		sig := signals[i%3]
		if i%3 == 0 || i < 30 { // 30 live records, 60 shadow ones (of other ids)
			e.produce("ingest.acme", int32(i%2), makeRecord("acme", sig, i))
			live[sig]++
			continue
		}
		e.produce("ingest.acme.shadow", int32(i%2), makeRecord("acme", sig, 1000+i))
		shadow[sig]++
	}
	_, stop := e.start(e.config())
	defer stop()
	for _, tc := range []struct {
		table string
		sig   record.Signal
	}{{"logs", record.SignalLog}, {"metrics", record.SignalMetric}, {"spans", record.SignalSpan}} {
		e.waitCount("SELECT count() FROM ingest."+tc.table+"_shadow FINAL WHERE tenant = 'acme'", shadow[tc.sig], time.Minute)
		e.waitCount("SELECT count() FROM ingest."+tc.table+" FINAL WHERE tenant = 'acme'", live[tc.sig], time.Minute)
	}
	stop()

	// Without its committed offsets (the group deleted), a new loader reads both topics from
	// the start: the ledger must tell it that the shadow tables hold every record already.
	if _, err := kadm.NewClient(e.prod).DeleteGroup(context.Background(), loader.DefaultGroup); err != nil {
		t.Fatalf("cannot delete the consumer group: %v", err)
	}
	reg, stop2 := e.start(e.config())
	defer stop2()
	deadline := time.Now().Add(time.Minute)
	for testkit.MetricSum(t, reg, "ingest_loader_records_skipped_total") < 90 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := testkit.MetricSum(t, reg, "ingest_loader_records_skipped_total"); got != 90 {
		t.Errorf("the restarted loader skipped %v records by the ledger, want all 90", got)
	}
	stop2()
	for _, table := range []string{"logs", "metrics", "spans"} {
		if n := e.count("SELECT count() FROM ingest." + table + " WHERE kafka_topic = 'ingest.acme.shadow'"); n != 0 {
			t.Errorf("%d rows of the shadow topic are in the live table %s", n, table)
		}
		if n := e.count("SELECT count() FROM ingest." + table + "_shadow WHERE kafka_topic = 'ingest.acme'"); n != 0 {
			t.Errorf("%d rows of the live topic are in %s_shadow", n, table)
		}
		if n := e.count("SELECT count() FROM ingest." + table + "_shadow"); n != e.count("SELECT count() FROM ingest."+table+"_shadow FINAL") {
			t.Errorf("%s_shadow holds duplicates: %d rows", table, n)
		}
	}
	if n := e.count("SELECT count() FROM ingest.loader_offsets WHERE table_name LIKE '%\\_shadow' AND kafka_topic = 'ingest.acme.shadow'"); n == 0 {
		t.Error("the ledger has no entry of the shadow tables")
	}
}
