package chtest

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/ingestdev/ingest/internal/chserver"
)

// ClusterName is the name of the cluster StartCluster starts: what ON CLUSTER and the
// Distributed tables name.
const ClusterName = "ingest_test"

// ClusterEnv names the environment variable that opts in to the tests that start a cluster
// (StartCluster): "1" runs them (make test-chcluster). They need ZooKeeper and java besides
// ClickHouse, which `make test` does not install, and take tens of seconds each.
const ClusterEnv = "INGEST_CHCLUSTER"

// ZooKeeperInstallHint is the command that installs the ZooKeeper StartCluster runs, on Debian
// and Ubuntu.
const ZooKeeperInstallHint = chserver.ZooKeeperInstallHint

// Cluster is a private ZooKeeper and the ClickHouse replicas of one shard of cluster
// ClusterName, each replica a Server (Kill and Restart one to fail it).
type Cluster struct {
	// ZooKeeper holds the replicas' metadata and the distributed DDL queue.
	ZooKeeper *chserver.ZooKeeper
	// Replicas are the servers, replica names r1, r2, … in this order, which is also the
	// order of the cluster's definition.
	Replicas []*Server
}

// StartCluster starts a private ZooKeeper and n ClickHouse replicas of one shard (macros
// shard 01, replica r1 … rn) of cluster ClusterName, each in a temporary directory on free
// ports, and registers their shutdown with t.Cleanup. It skips t unless ClusterEnv is "1";
// then it skips t when ClickHouse, ZooKeeper or java is not installed (fails it when CI=true),
// and fails t when a server does not come up.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if os.Getenv(ClusterEnv) != "1" {
		t.Skipf("skipping: starts ZooKeeper and %d ClickHouse replicas; set %s=1 to run it (make test-chcluster)", n, ClusterEnv)
	}
	bin := findBinary(t)
	if _, err := chserver.FindZooKeeper(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ZooKeeper is required under CI=true: %v; install it: %s", err, ZooKeeperInstallHint)
		}
		t.Skipf("skipping: %v; install it: %s", err, ZooKeeperInstallHint)
	}
	zk, err := chserver.StartZooKeeper(context.Background(), chserver.ZooKeeperConfig{Dir: t.TempDir()})
	if err != nil {
		if errors.Is(err, chserver.ErrNoZooKeeper) {
			t.Skipf("skipping: %v", err)
		}
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := zk.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	// Every replica's native port is in every replica's configuration: pick them first.
	ports, err := chserver.FreePorts(n)
	if err != nil {
		t.Fatalf("cannot pick ports for %d ClickHouse replicas: %v", n, err)
	}
	addrs := make([]string, n)
	for i, p := range ports {
		addrs[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	c := &Cluster{ZooKeeper: zk, Replicas: make([]*Server, n)}
	cfgs := make([]chserver.Config, n)
	for i := range cfgs {
		cfgs[i] = chserver.Config{Dir: t.TempDir(), Binary: bin, TCPPort: ports[i], Replica: &chserver.Replica{
			Cluster: ClusterName, Name: "r" + strconv.Itoa(i+1), Replicas: addrs, ZooKeeper: []string{zk.Addr()},
		}}
	}
	// Start them side by side (each takes seconds); report failures from this goroutine.
	var (
		wg   sync.WaitGroup
		errs = make([]error, n)
	)
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs, err := chserver.Start(context.Background(), cfgs[i])
			if err != nil {
				errs[i] = err
				return
			}
			c.Replicas[i] = &Server{t: t, cs: cs}
			t.Cleanup(c.Replicas[i].cleanup)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("cannot start the ClickHouse replicas: %v", err)
	}
	t.Cleanup(func() { // runs first: what the servers said, on any failure
		if !t.Failed() {
			return
		}
		for i, s := range c.Replicas {
			t.Logf("replica r%d (%s):\n%s", i+1, s.Addr(), s.LogTail())
		}
	})
	return c
}

// Addrs returns the native-protocol host:port of every replica, in order: the loader's
// clickhouse_addr.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Replicas))
	for i, s := range c.Replicas {
		out[i] = s.Addr()
	}
	return out
}
