// Package chtest starts a private ClickHouse server for integration tests: its own temporary
// directory, free loopback ports and a generated configuration, stopped when the test ends.
// It is a thin wrapper over package chserver, which `ingest dev` uses outside tests.
//
// It runs the Debian package's clickhouse-server (18.16, what CI has) or a current single-binary
// clickhouse. When neither is installed a test is skipped with the command that installs it, or
// fails when the environment variable CI is "true": under CI a missing ClickHouse is a failure,
// never a skip. scripts/ensure-clickhouse.sh installs the package where it can.
//
// Starting a server takes one to three seconds; tests that need several servers' worth of
// time should check testing.Short themselves.
//
// StartCluster starts a private ZooKeeper and the replicas of a one-shard cluster
// (ClusterName). Tests that use it run only with INGEST_CHCLUSTER=1 (make test-chcluster): they
// need ZooKeeper and java, which scripts/ensure-zookeeper.sh installs, and take tens of seconds.
package chtest
