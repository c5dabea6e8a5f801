package chtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/chserver"
	"github.com/ingestdev/ingest/internal/chtest"
)

// TestClusterReplicatesAndSurvivesAKilledReplica starts ZooKeeper and two replicas, creates a
// Replicated table ON CLUSTER, inserts on one replica, reads it on the other, and restarts a
// replica killed with SIGKILL. (INGEST_CHCLUSTER=1.)
func TestClusterReplicatesAndSurvivesAKilledReplica(t *testing.T) {
	cl := chtest.StartCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r1, r2 := cl.Replicas[0].Conn(), cl.Replicas[1].Conn()
	for _, q := range []string{
		"CREATE DATABASE d ON CLUSTER " + chtest.ClusterName,
		"CREATE TABLE d.t ON CLUSTER " + chtest.ClusterName + " (x UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/d/t', '{replica}') ORDER BY x",
	} {
		if err := r1.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	b, err := r1.PrepareBatch(ctx, "INSERT INTO d.t (x)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Column(0).Append([]uint64{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if err := r2.Exec(ctx, "SYSTEM SYNC REPLICA d.t"); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := r2.QueryRow(ctx, "SELECT count() FROM d.t").Scan(&n); err != nil || n != 3 {
		t.Fatalf("the other replica holds %d rows (%v), want 3", n, err)
	}
	cl.Replicas[0].Kill()
	cl.Replicas[0].Restart()
	for range 3 { // the pool's connections died with the server
		if err = r1.QueryRow(ctx, "SELECT count() FROM d.t").Scan(&n); err == nil {
			break
		}
	}
	if err != nil || n != 3 {
		t.Fatalf("the restarted replica holds %d rows (%v), want 3", n, err)
	}
	if got := cl.Addrs(); len(got) != 2 || got[0] != cl.Replicas[0].Addr() {
		t.Errorf("Addrs = %v", got)
	}
}

func TestMissingZooKeeperSkipsWithTheInstallCommandButFailsUnderCI(t *testing.T) {
	if _, err := chserver.FindBinary(); err != nil {
		t.Skip("needs ClickHouse, to get to the ZooKeeper check")
	}
	t.Setenv(chtest.ClusterEnv, "1")
	t.Setenv(chserver.ZooKeeperJarEnv, "/nonexistent/zookeeper.jar")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recordingTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			chtest.StartCluster(r, 2)
		}()
		<-done
		got := r.skipped
		if ci == "true" {
			got = r.failed
			if r.skipped != "" {
				t.Errorf("CI=true: skipped (%q), want a failure", r.skipped)
			}
		}
		if !strings.Contains(got, "apt-get install -y --no-install-recommends zookeeper") {
			t.Errorf("CI=%q: message %q does not say how to install ZooKeeper", ci, got)
		}
	}
}

func TestClusterTestsSkipUnlessOptedIn(t *testing.T) {
	t.Setenv(chtest.ClusterEnv, "")
	r := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		chtest.StartCluster(r, 2)
	}()
	<-done
	if !strings.Contains(r.skipped, chtest.ClusterEnv+"=1") || r.failed != "" {
		t.Errorf("without %s: skipped %q, failed %q; want a skip naming the variable", chtest.ClusterEnv, r.skipped, r.failed)
	}
}
