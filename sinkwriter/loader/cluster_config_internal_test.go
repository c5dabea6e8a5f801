package loader

import (
	"strings"
	"testing"
)

func TestClickHouseClusterIsValidatedAndReachesTheRollupWorker(t *testing.T) {
	c := Config{Brokers: []string{"k:9092"}, ClickHouseAddr: []string{"r1:9000", "r2:9000"}, ClickHouseCluster: "prod-eu_1"}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if rc := c.rollupConfig(); rc.Cluster != "prod-eu_1" {
		t.Errorf("the roll-up worker's cluster = %q, want the loader's", rc.Cluster)
	}
	c.ClickHouseCluster = "no spaces"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "clickhouse_cluster:") || strings.Contains(err.Error(), "rollup.") {
		t.Errorf("Validate of a bad cluster name = %v, want one error naming clickhouse_cluster", err)
	}
}
