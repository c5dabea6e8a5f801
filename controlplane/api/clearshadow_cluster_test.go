package api_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// TestClearShadowOnAClusterDeletesOnEveryReplica clears a tenant's shadow rows on a cluster of
// two replicas (Replicated tables, schema.MigrateCluster) through a control plane that reaches
// r1, while some of the rows were inserted on r2: the deletes are mutations that ZooKeeper
// replicates, the answer comes once r1 has loaded and finished them (it lists a mutation only
// after the ALTER returned), and both replicas end without the tenant's rows and with the
// other tenant's. (INGEST_CHCLUSTER=1: see chtest.StartCluster.)
func TestClearShadowOnAClusterDeletesOnEveryReplica(t *testing.T) {
	cl := chtest.StartCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r1, r2 := cl.Replicas[0].Conn(), cl.Replicas[1].Conn()
	if _, err := schema.MigrateCluster(ctx, r1, "ingest", chtest.ClusterName); err != nil {
		t.Fatal(err)
	}
	apitest.InsertRows(t, r1, "ingest", "logs_shadow", "acme", 3)
	apitest.InsertRows(t, r2, "ingest", "metrics_shadow", "acme", 5)
	apitest.InsertRows(t, r2, "ingest", "logs_shadow", "globex", 4)
	apitest.InsertRows(t, r2, "ingest", "logs", "acme", 2)

	ch := api.ClickHouse{Conn: r1, Database: "ingest", Cluster: chtest.ClusterName, Timeout: time.Minute, PollInterval: 50 * time.Millisecond}
	srv, reg := apitest.Start(t, api.Config{Token: token, ClickHouse: ch})
	e := &env{t: t, srv: srv, reg: reg}
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme"}`), 201)

	var res api.ClearShadowResult
	body := e.mustStatus(e.do("POST", "/v1/tenants/acme/cutover/clear-shadow", `{"reason":"failed shadow run"}`), 200).body
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Done || res.RowsAfter != 0 || res.Mutations != 7 {
		t.Fatalf("clear-shadow result: %s", body)
	}
	for i, c := range cl.Replicas {
		for _, table := range []string{"logs_shadow", "metrics_shadow", "metrics_windows_shadow"} {
			if err := c.Conn().Exec(ctx, "SYSTEM SYNC REPLICA ingest."+table); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Minute)
			for rowsOf(t, c.Conn(), "ingest", table, "acme") != 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if n := rowsOf(t, c.Conn(), "ingest", table, "acme"); n != 0 {
				t.Errorf("replica r%d: %s holds %d rows of acme after clear-shadow", i+1, table, n)
			}
		}
		if n := rowsOf(t, c.Conn(), "ingest", "logs_shadow", "globex"); n != 4 {
			t.Errorf("replica r%d: logs_shadow holds %d rows of globex, want 4", i+1, n)
		}
		if err := c.Conn().Exec(ctx, "SYSTEM SYNC REPLICA ingest.logs"); err != nil {
			t.Fatal(err)
		}
		if n := rowsOf(t, c.Conn(), "ingest", "logs", "acme"); n != 2 {
			t.Errorf("replica r%d: live logs hold %d rows of acme, want 2", i+1, n)
		}
	}
}
