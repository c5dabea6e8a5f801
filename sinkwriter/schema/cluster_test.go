package schema_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// shippedChecksums are the SHA-256 of the migration files as they shipped. A database records
// them when migrated and Migrate refuses one that differs (ErrChecksumMismatch), so a shipped
// file must never change, not even for the cluster rewrite (which happens in code): this
// test fails before any database would.
var shippedChecksums = map[int]string{
	1: "847828db0c9ef088eb6403f4f53b08c1b81e83a2f8070de53674c4c210218f09",
	2: "8a6b13c15c5365e732414acb12660435d660dc3e1f58a4048a6ac7562083c05b",
	3: "d64e64d2f0687ac15b0e7e765f3509d273345c205ae0c78338ed3d613e1b921d",
}

func TestShippedMigrationsKeepTheirChecksums(t *testing.T) {
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		want, ok := shippedChecksums[m.Version]
		if !ok {
			t.Errorf("migration %04d_%s (checksum %s) is not in shippedChecksums: add it once it ships", m.Version, m.Name, m.Checksum)
			continue
		}
		if m.Checksum != want {
			t.Errorf("migration %04d_%s has checksum %s, shipped as %s: every migrated database would refuse it (ErrChecksumMismatch); revert the file and add a migration",
				m.Version, m.Name, m.Checksum, want)
		}
		cs, err := m.ClusterStatements("ingest", "c1")
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) < len(m.Statements("ingest")) {
			t.Errorf("migration %d: %d statements on a cluster, fewer than the %d of a single server", m.Version, len(cs), len(m.Statements("ingest")))
		}
	}
}

// TestMigrationStatementsMatchTheGoldenFiles pins the SQL statement by statement: the single
// server's (testdata/single.sql, what Migrate has always run: it must not change) and the
// cluster's (testdata/cluster.sql, OnCluster's rewrite of each). Run with -update to rewrite
// them, and read the diff.
func TestMigrationStatementsMatchTheGoldenFiles(t *testing.T) {
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, cluster string }{{"single.sql", ""}, {"cluster.sql", "ingest_cluster"}} {
		var b strings.Builder
		for _, m := range ms {
			stmts, err := m.ClusterStatements("ingest", c.cluster)
			if err != nil {
				t.Fatal(err)
			}
			if c.cluster == "" && !slices.Equal(stmts, m.Statements("ingest")) {
				t.Errorf("migration %d: ClusterStatements without a cluster differ from Statements", m.Version)
			}
			for i, s := range stmts {
				fmt.Fprintf(&b, "-- %04d_%s, statement %d\n%s;\n\n", m.Version, m.Name, i+1, s)
			}
		}
		golden(t, c.file, b.String())
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from what the code produces now (run with -update and read the diff):\n%s", path, firstDiff(string(want), got))
	}
}

// firstDiff returns the first differing line of a and b, numbered.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  golden: %q\n  now:    %q", i+1, x, y)
		}
	}
	return ""
}

func TestOnClusterRewritesEachStatementShape(t *testing.T) {
	for _, c := range []struct {
		name, stmt string
		want       []string
	}{
		{
			"a table of the query path gets a Replicated engine and a Distributed table",
			"CREATE TABLE IF NOT EXISTS `db`.logs_shadow\n(\n    x UInt8\n)\nENGINE = ReplacingMergeTree()\nPARTITION BY tuple()\nORDER BY x",
			[]string{
				"CREATE TABLE IF NOT EXISTS `db`.logs_shadow ON CLUSTER `c1`\n(\n    x UInt8\n)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/logs_shadow', '{replica}')\nPARTITION BY tuple()\nORDER BY x",
				"CREATE TABLE IF NOT EXISTS `db`.logs_shadow_all ON CLUSTER `c1` AS `db`.logs_shadow\nENGINE = Distributed('c1', 'db', 'logs_shadow')",
			},
		},
		{
			"an engine's arguments follow the path and the replica",
			"CREATE TABLE IF NOT EXISTS `db`.loader_offsets\n(\n    o UInt64\n)\nENGINE = ReplacingMergeTree(o)\nORDER BY tuple()",
			[]string{"CREATE TABLE IF NOT EXISTS `db`.loader_offsets ON CLUSTER `c1`\n(\n    o UInt64\n)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/loader_offsets', '{replica}', o)\nORDER BY tuple()"},
		},
		{
			"MergeTree and AggregatingMergeTree",
			"CREATE TABLE IF NOT EXISTS `db`.metrics_1m (x UInt8)\nENGINE = AggregatingMergeTree()\nORDER BY x",
			[]string{
				"CREATE TABLE IF NOT EXISTS `db`.metrics_1m ON CLUSTER `c1` (x UInt8)\nENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/db/metrics_1m', '{replica}')\nORDER BY x",
				"CREATE TABLE IF NOT EXISTS `db`.metrics_1m_all ON CLUSTER `c1` AS `db`.metrics_1m\nENGINE = Distributed('c1', 'db', 'metrics_1m')",
			},
		},
		{
			"a view runs on every replica",
			"CREATE MATERIALIZED VIEW IF NOT EXISTS `db`.logs_offsets_mv TO `db`.loader_offsets AS\nSELECT 1",
			[]string{"CREATE MATERIALIZED VIEW IF NOT EXISTS `db`.logs_offsets_mv ON CLUSTER `c1` TO `db`.loader_offsets AS\nSELECT 1"},
		},
		{
			"a dropped table of the query path loses its Distributed table first",
			"DROP TABLE IF EXISTS `db`.metrics_10m_shadow",
			[]string{"DROP TABLE IF EXISTS `db`.metrics_10m_shadow_all ON CLUSTER `c1`", "DROP TABLE IF EXISTS `db`.metrics_10m_shadow ON CLUSTER `c1`"},
		},
		{
			"a dropped view",
			"DROP TABLE IF EXISTS `db`.metrics_10m_mv",
			[]string{"DROP TABLE IF EXISTS `db`.metrics_10m_mv ON CLUSTER `c1`"},
		},
		{
			"an INSERT runs once and replicates",
			"INSERT INTO `db`.metrics_windows (tenant) SELECT tenant FROM `db`.metrics",
			[]string{"INSERT INTO `db`.metrics_windows (tenant) SELECT tenant FROM `db`.metrics"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := schema.OnCluster(c.stmt, "db", "c1")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("OnCluster =\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestOnClusterRefusesWhatItCannotRewrite(t *testing.T) {
	for _, c := range []struct{ stmt, cluster string }{
		{"ALTER TABLE `db`.logs ADD COLUMN x UInt8", "c1"},
		{"CREATE TABLE IF NOT EXISTS `db`.t (x UInt8) ENGINE = Log", "c1"},
		{"CREATE TABLE IF NOT EXISTS `db`.t (x UInt8)\nENGINE = CollapsingMergeTree(s)\nORDER BY x", "c1"},
		{"CREATE TABLE IF NOT EXISTS `db`.t (x UInt8)\nENGINE = MergeTree()\nORDER BY x\nENGINE = MergeTree()", "c1"},
		{"CREATE TABLE `db`.t (x UInt8)\nENGINE = MergeTree()\nORDER BY x", "c1"},
		{"CREATE DATABASE IF NOT EXISTS `db`", "c1"},
		{"DROP TABLE IF EXISTS `db`.t", "bad name"},
		{"DROP TABLE IF EXISTS `db`.t", ""},
	} {
		if got, err := schema.OnCluster(c.stmt, "db", c.cluster); err == nil {
			t.Errorf("OnCluster(%q, cluster %q) = %q, want an error", c.stmt, c.cluster, got)
		}
	}
}

func TestValidCluster(t *testing.T) {
	for name, want := range map[string]bool{"c1": true, "prod-eu_1": true, "": false, "1c": false, "a b": false, "a`b": false, "a.b": false, strings.Repeat("a", 65): false} {
		if got := schema.ValidCluster(name); got != want {
			t.Errorf("ValidCluster(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestMigrateClusterCreatesReplicatedTablesOnEveryReplica migrates a two-replica cluster through
// one replica and checks the other: every table Replicated, the query path's tables with a
// Distributed table each, the migrations recorded, and the views of one replica's INSERT
// replicated to the other, read through the Distributed table with FINAL. A second run applies
// nothing, and needs no other replica: it runs with one of them killed. It runs with
// INGEST_CHCLUSTER=1 (see chtest.StartCluster), as the next test does.
func TestMigrateClusterCreatesReplicatedTablesOnEveryReplica(t *testing.T) {
	cl := chtest.StartCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r1, r2 := cl.Replicas[0].Conn(), cl.Replicas[1].Conn()
	ms, _ := schema.Migrations()

	start := time.Now()
	applied, err := schema.MigrateCluster(ctx, r1, "ingest", chtest.ClusterName)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("migrated the cluster in %v", time.Since(start).Round(time.Millisecond))
	if len(applied) != len(ms) {
		t.Fatalf("applied %d migrations, want %d", len(applied), len(ms))
	}
	// ON CLUSTER waited for both replicas: the DDL is done on r2 too.
	single := chtest.Start(t)
	if _, err := schema.Migrate(ctx, single.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	want := tableEngines(t, single.Conn(), "ingest")
	for _, conn := range []driver.Conn{r1, r2} {
		got := tableEngines(t, conn, "ingest")
		for name, engine := range want {
			wantEngine := engine
			if strings.HasSuffix(engine, "MergeTree") {
				wantEngine = "Replicated" + engine
			}
			if got[name] != wantEngine {
				t.Errorf("%s is a %q on the cluster, want %q", name, got[name], wantEngine)
			}
		}
		for name, engine := range got {
			if _, ok := want[name]; ok {
				continue
			}
			base, ok := strings.CutSuffix(name, schema.DistributedSuffix)
			if !ok || engine != "Distributed" || want[base] == "" {
				t.Errorf("%s (%s) is on the cluster only, and is not the Distributed table of a table", name, engine)
			}
		}
		if n := len(got) - len(want); n != 2*len(schema.DistributedTables) {
			t.Errorf("%d tables more on the cluster, want %d Distributed tables", n, 2*len(schema.DistributedTables))
		}
	}

	// One replica's INSERT fires its views; r2 reads it all through the Distributed tables.
	b, err := r1.PrepareBatch(ctx, "INSERT INTO ingest.metrics (tenant, time, event_id, name, kafka_topic, kafka_partition, kafka_offset)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := b.Append("acme", time.Unix(1710072000, 0), fmt.Sprintf("%016d", i%2), "m", "ingest.acme", int32(0), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range []string{"metrics", "loader_offsets", "metrics_windows", "schema_migrations"} {
		if err := r2.Exec(ctx, "SYSTEM SYNC REPLICA ingest."+tbl); err != nil {
			t.Fatal(err)
		}
	}
	for q, want := range map[string]uint64{
		"SELECT count() FROM ingest.metrics_all FINAL":                                     2, // two event ids
		"SELECT count() FROM ingest.metrics_all":                                           3,
		"SELECT max(kafka_offset) FROM ingest.loader_offsets WHERE table_name = 'metrics'": 2,
		"SELECT count() FROM ingest.metrics_windows":                                       1,
	} {
		var n uint64
		if err := r2.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n != want {
			t.Errorf("on the other replica, %s = %d, want %d", q, n, want)
		}
	}

	// Up to date: nothing runs ON CLUSTER, so a replica down does not stop it.
	cl.Replicas[0].Kill()
	start = time.Now()
	applied, err = schema.MigrateCluster(ctx, r2, "ingest", chtest.ClusterName)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second run with a replica down = %d migrations, %v; want none, no error", len(applied), err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the second run took %v: it waited for the killed replica", d)
	}
	rec, err := schema.Applied(ctx, r2, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if got := rec[m.Version]; len(got) != 1 || got[0].Checksum != m.Checksum {
			t.Errorf("schema_migrations of r2 for version %d = %+v, want one row with checksum %s", m.Version, got, m.Checksum)
		}
	}
}

func TestMigrateClusterRefusesASingleServerDatabaseAndAnUnknownCluster(t *testing.T) {
	cl := chtest.StartCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := cl.Replicas[0].Conn()
	if _, err := schema.Migrate(ctx, conn, "plain"); err != nil {
		t.Fatal(err)
	}
	if _, err := schema.MigrateCluster(ctx, conn, "plain", chtest.ClusterName); !errors.Is(err, schema.ErrNotReplicated) {
		t.Errorf("MigrateCluster of a single server's database = %v, want ErrNotReplicated", err)
	}
	if _, err := schema.MigrateCluster(ctx, conn, "ingest", "nope"); !errors.Is(err, schema.ErrClusterUnsupported) || !strings.Contains(err.Error(), "no such cluster") {
		t.Errorf("MigrateCluster on an undefined cluster = %v, want an error naming it", err)
	}
}

// tableEngines returns the engine of every table of database, by name.
func tableEngines(t *testing.T, conn driver.Conn, database string) map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT name, engine FROM system.tables WHERE database = ?", database)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, e string
		if err := rows.Scan(&n, &e); err != nil {
			t.Fatal(err)
		}
		out[n] = e
	}
	return out
}

// TestClusterStatementsAreIdempotentAndPortable holds the cluster's statements to the rules of
// the single server's (see TestMigrationsLoadInOrderAndSplitIntoStatements and
// TestMigrationsAvoidSyntaxThatOldOrNewClickHouseRejects): every one runs again harmlessly, and
// none uses what 18.16 or a current server rejects.
func TestClusterStatementsAreIdempotentAndPortable(t *testing.T) {
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		stmts, err := m.ClusterStatements("db", "c1")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if !idempotent(s) {
				t.Errorf("migration %d: statement is not idempotent: %q", m.Version, firstLine(s))
			}
			if !strings.HasPrefix(s, "INSERT INTO ") && !strings.Contains(firstLine(s), " ON CLUSTER `c1`") {
				t.Errorf("migration %d: DDL without ON CLUSTER: %q", m.Version, firstLine(s))
			}
			if strings.Contains(s, "ENGINE = ") && !strings.Contains(s, "ENGINE = Replicated") && !strings.Contains(s, "ENGINE = Distributed(") {
				t.Errorf("migration %d: a table that is not Replicated: %q", m.Version, firstLine(s))
			}
			for _, f := range []string{"Map(", "JSON", "DateTime64", "LowCardinality", "CODEC(", " TTL ", "SimpleAggregateFunction", "{database}", "{table}", "{uuid}"} {
				if strings.Contains(s, f) {
					t.Errorf("migration %d uses %q: %q", m.Version, f, firstLine(s))
				}
			}
		}
	}
}
