package replay

import (
	"strings"
	"testing"
)

// The replay table's engine on a cluster is the live table's, as system.tables.engine_full
// shows it on 18.16 (and current servers), with a ZooKeeper path of its own; anything else is
// refused with a reason.
func TestReplayEngineOfGivesTheReplayTableAPathOfItsOwn(t *testing.T) {
	const tail = " PARTITION BY toYYYYMMDD(time) ORDER BY (tenant, time, event_id) SETTINGS index_granularity = 8192"
	for _, c := range []struct{ name, engine, want, err string }{
		{"18.16", "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/logs', '{replica}')" + tail,
			"ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/logs_replay_7', '{replica}')" + tail, ""},
		{"engine arguments kept", "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/logs', '{replica}', received_at)" + tail,
			"ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/logs_replay_7', '{replica}', received_at)" + tail, ""},
		{"one server", "ReplacingMergeTree" + tail, "", "is not Replicated (engine ReplacingMergeTree)"},
		{"another path", "ReplicatedReplacingMergeTree('/ch/{shard}/logs', '{replica}')" + tail, "", `Replicated at "/ch/{shard}/logs", not at "/clickhouse/tables/{shard}/ingest/logs"`},
	} {
		got, err := replayEngineOf(c.engine, "ingest", "c1", "logs", "logs_replay_7")
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.err)
		}
	}
}
