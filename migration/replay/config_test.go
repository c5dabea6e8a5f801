package replay

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidateNamesEveryBadKey(t *testing.T) {
	err := Config{Brokers: []string{"nohost"}, Rate: -1, FlushRows: 2_000_000, FlushInterval: -time.Second, InsertTimeout: -1, RequestTimeout: -1}.Validate()
	for _, key := range []string{"replay.brokers", "replay.rate", "replay.flush_rows", "replay.flush_interval", "replay.insert_timeout", "replay.request_timeout"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, want it to name %s", err, key)
		}
	}
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Errorf("the defaults are invalid: %v", err)
	}
}

func TestNewRefusesWithoutBrokersClickHouseOrStore(t *testing.T) {
	if _, err := New(Config{}, Options{Store: &MemStore{}}); err == nil || !strings.Contains(err.Error(), "replay.brokers") {
		t.Errorf("New without brokers: %v", err)
	}
	if _, err := New(Config{Brokers: []string{"127.0.0.1:9092"}}, Options{Store: &MemStore{}}); err == nil || !strings.Contains(err.Error(), "clickhouse.addr") {
		t.Errorf("New without ClickHouse: %v", err)
	}
}

func TestCompareClassifiesWindows(t *testing.T) {
	live := map[int64]side{60: {10, 1}, 120: {10, 2}, 180: {9, 3}, 240: {10, 4}}
	replayed := map[int64]side{0: {5, 9}, 60: {10, 1}, 120: {10, 7}, 180: {10, 3}, 240: {8, 4}}
	got := compare("logs", live, replayed)
	want := []string{WindowMissingInLive, WindowMatching, WindowDiffering, WindowMissingInLive, WindowExtraInLive}
	if len(got) != len(want) {
		t.Fatalf("%d windows, want %d", len(got), len(want))
	}
	var totals DiffTotals
	for i, w := range got {
		if w.Status != want[i] || w.Start.Unix() != int64(i*60) {
			t.Errorf("window %d: %s at %d, want %s at %d", i, w.Status, w.Start.Unix(), want[i], i*60)
		}
		totals.add(w)
	}
	if totals.Windows != 5 || totals.Matching != 1 || totals.MissingInLive != 2 || totals.ExtraInLive != 1 || totals.Differing != 1 || totals.LiveRows != 39 || totals.ReplayRows != 43 {
		t.Errorf("totals %+v", totals)
	}
	if got[0].LiveHash != "" || got[1].LiveHash != "0000000000000001" {
		t.Errorf("hashes %q %q: an empty side has none, others 16 hex digits", got[0].LiveHash, got[1].LiveHash)
	}
}

func TestScopeSelectsThePlannedOffsetsOfTheTenantOnly(t *testing.T) {
	lo, hi := time.Unix(100, 5), time.Unix(200, 0)
	p := Plan{Tenant: "ac'me", Topic: "ingest.acme", EventTimeMin: &lo, EventTimeMax: &hi, Partitions: []PartitionRange{
		{Partition: 0, From: 10, To: 20, Records: 10}, {Partition: 1, From: 5, To: 5}, {Partition: 2, From: 0, To: 3, Records: 3}}}
	want := `tenant = 'ac\'me' AND kafka_topic = 'ingest.acme' AND ((kafka_partition = 0 AND kafka_offset >= 10 AND kafka_offset < 20) OR ` +
		`(kafka_partition = 2 AND kafka_offset >= 0 AND kafka_offset < 3)) AND time >= toDateTime(100) AND time <= toDateTime(200)`
	if got := scope(p); got != want {
		t.Errorf("scope =\n %s\nwant\n %s", got, want)
	}
}
