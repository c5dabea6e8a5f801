// Package chserver runs a private ClickHouse server: its own directory (configuration, data,
// logs), loopback ports and a generated configuration, started and stopped by this process.
// It never uses a system service. `ingest dev` keeps one under ./.data/clickhouse; package
// chtest wraps it for integration tests.
//
// It runs the Debian package's clickhouse-server (18.16, what CI has) or a current single-binary
// clickhouse, found by [FindBinary]; scripts/ensure-clickhouse.sh installs the package where it
// can, and [InstallHint] says how to install it by hand.
//
// A server's data survives Stop and a new Start on the same directory (the configuration is
// rewritten at every start, so the ports may change). Starting takes one to three seconds.
//
// With Config.Replica a server is one replica of a cluster of one shard (remote_servers, the
// {shard} and {replica} macros, ZooKeeper, an interserver port, the distributed DDL queue), and
// [StartZooKeeper] runs the private ZooKeeper the replicas share: Debian's ZooKeeper 3.8
// (/usr/share/java/zookeeper.jar) standalone, with java, in its own directory on a loopback port;
// scripts/ensure-zookeeper.sh installs it where it can, and [ZooKeeperInstallHint] says how to
// install it by hand.
package chserver
