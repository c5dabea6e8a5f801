package chserver

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

func TestReplicaCheckNamesEveryProblem(t *testing.T) {
	r := &Replica{Cluster: "bad name", Shard: "a/b", Name: "", Replicas: []string{"127.0.0.1:9000", "nohost"}}
	err := r.check(9001)
	if err == nil {
		t.Fatal("check accepted an invalid replica")
	}
	for _, want := range []string{`cluster "bad name"`, `shard "a/b"`, `replica name ""`, "no ZooKeeper", "do not include this server, 127.0.0.1:9001", `"nohost" is not host:port`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	ok := &Replica{Cluster: "c1", Name: "r1", Replicas: []string{"127.0.0.1:9001", "127.0.0.1:9002"}, ZooKeeper: []string{"127.0.0.1:2181"}}
	if err := ok.check(9001); err != nil {
		t.Errorf("check of a valid replica: %v", err)
	}
}

// TestReplicaConfigurationIsWellFormedXML checks the elements 18.16 reads: the cluster of one
// shard, ZooKeeper, the macros and the interserver port.
func TestReplicaConfigurationIsWellFormedXML(t *testing.T) {
	s := &Server{dir: "/d", tcp: 9001, http: 8123, interserver: 9010, replica: &Replica{
		Cluster: "c1", Shard: "01", Name: "r1", Replicas: []string{"127.0.0.1:9001", "127.0.0.1:9002"},
		ZooKeeper: []string{"127.0.0.1:2181"}, SessionTimeout: 10 * time.Second,
	}}
	config := strings.Replace(configXML, "</yandex>", s.replicaXML()+"</yandex>", 1)
	var doc struct {
		Remote struct {
			C1 struct {
				Shards []struct {
					Internal bool `xml:"internal_replication"`
					Replicas []struct {
						Host string `xml:"host"`
						Port int    `xml:"port"`
					} `xml:"replica"`
				} `xml:"shard"`
			} `xml:"c1"`
		} `xml:"remote_servers"`
		ZooKeeper struct {
			Nodes []struct {
				Host string `xml:"host"`
				Port int    `xml:"port"`
			} `xml:"node"`
			SessionTimeout int `xml:"session_timeout_ms"`
		} `xml:"zookeeper"`
		Macros struct {
			Shard   string `xml:"shard"`
			Replica string `xml:"replica"`
		} `xml:"macros"`
		Interserver int    `xml:"interserver_http_port"`
		DDL         string `xml:"distributed_ddl>path"`
	}
	if err := xml.Unmarshal([]byte(strings.Replace(config, "%[1]s", "/d", -1)), &doc); err != nil {
		t.Fatal(err)
	}
	shards := doc.Remote.C1.Shards
	if len(shards) != 1 || !shards[0].Internal || len(shards[0].Replicas) != 2 || shards[0].Replicas[1].Port != 9002 {
		t.Errorf("remote_servers = %+v, want one shard, internal replication, two replicas", doc.Remote)
	}
	if len(doc.ZooKeeper.Nodes) != 1 || doc.ZooKeeper.Nodes[0].Port != 2181 || doc.ZooKeeper.SessionTimeout != 10000 {
		t.Errorf("zookeeper = %+v", doc.ZooKeeper)
	}
	if doc.Macros.Shard != "01" || doc.Macros.Replica != "r1" || doc.Interserver != 9010 || doc.DDL != "/clickhouse/task_queue/ddl" {
		t.Errorf("macros %+v, interserver port %d, DDL queue %q", doc.Macros, doc.Interserver, doc.DDL)
	}
}
