package schema

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DistributedSuffix names the Distributed table of a table on a cluster: logs_all reads logs on
// the cluster's replicas. The local (Replicated) tables keep the names they have on a single
// server, so that every writer — the loader's INSERT, the ledger and roll-up marker views, the
// roll-up worker, mutations — runs the same SQL on one server and on a cluster; only reads
// change tables: through the Distributed table, which fails over to another replica.
const DistributedSuffix = "_all"

// DistributedTables are the tables that get a Distributed table (name + DistributedSuffix) on a
// cluster, in each table set: those of the documented query path. The loader's own tables
// (loader_offsets, loader_topics), the roll-up markers and state, and schema_migrations are
// read on the replica a component is connected to.
var DistributedTables = []string{"logs", "metrics", "spans", "metrics_1m", "metrics_10m", "metrics_60m"}

// ZooKeeperPath is the ZooKeeper path of a Replicated table's metadata, with the database and
// table for %s: the {shard} macro makes every shard's replicas share one path.
const ZooKeeperPath = "/clickhouse/tables/{shard}/%s/%s"

// ErrClusterUnsupported is returned by MigrateCluster when the server defines no such cluster,
// or one of more than one shard.
var ErrClusterUnsupported = errors.New("the cluster cannot hold the schema")

// ErrNotReplicated is returned by MigrateCluster for a database that was created on a single
// server (its schema_migrations is not Replicated): its tables cannot be converted in place.
var ErrNotReplicated = errors.New("the database was not created for a cluster")

var clusterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// ValidCluster reports whether name is a cluster name the pipeline accepts:
// ^[A-Za-z_][A-Za-z0-9_-]*$, at most 64 bytes. The empty name (no cluster) is not valid here.
func ValidCluster(name string) bool { return len(name) <= 64 && clusterName.MatchString(name) }

var (
	// The statement shapes of the migrations, after {db} and {set} are replaced. A migration
	// with another shape fails OnCluster (and the package's tests), never runs half-rewritten.
	createTableStmt = regexp.MustCompile("^CREATE TABLE IF NOT EXISTS (`[A-Za-z_][A-Za-z0-9_]*`)\\.([A-Za-z_][A-Za-z0-9_]*)\\s")
	createViewStmt  = regexp.MustCompile("^CREATE MATERIALIZED VIEW IF NOT EXISTS `[A-Za-z_][A-Za-z0-9_]*`\\.[A-Za-z_][A-Za-z0-9_]* TO ")
	dropTableStmt   = regexp.MustCompile("^DROP TABLE IF EXISTS (`[A-Za-z_][A-Za-z0-9_]*`)\\.([A-Za-z_][A-Za-z0-9_]*)$")
	engineClause    = regexp.MustCompile(`(?m)^ENGINE = ((?:Replacing|Aggregating|Summing)?MergeTree)\(([^()]*)\)$`)
)

// OnCluster returns stmt, a statement of Statements(database) or Migrate's own DDL, as the
// statements that apply it on every replica of cluster:
//
//   - CREATE TABLE … IF NOT EXISTS db.t … ENGINE = XMergeTree(args) gets ON CLUSTER cluster and
//     ENGINE = ReplicatedXMergeTree('/clickhouse/tables/{shard}/db/t', '{replica}'[, args]);
//     for a table of DistributedTables it is followed by CREATE TABLE IF NOT EXISTS db.t_all ON
//     CLUSTER cluster AS db.t ENGINE = Distributed('cluster', 'db', 't');
//   - CREATE MATERIALIZED VIEW IF NOT EXISTS db.v TO … gets ON CLUSTER cluster: every replica
//     runs its own view, which fires on the INSERTs that replica takes and writes its local
//     (Replicated) target, which replicates what it wrote;
//   - DROP TABLE IF EXISTS db.t gets ON CLUSTER cluster, preceded by the drop of db.t_all for a
//     table of DistributedTables;
//   - INSERT INTO … is kept as it is: it runs once, on the replica conn is connected to, and
//     replication copies what it wrote.
//
// Any other statement, or a CREATE TABLE whose engine is not one line
// `ENGINE = [Replacing|Aggregating|Summing]MergeTree(…)`, is an error: a new migration of
// another shape must teach OnCluster first. cluster must be ValidCluster.
func OnCluster(stmt, database, cluster string) ([]string, error) {
	if !ValidCluster(cluster) {
		return nil, fmt.Errorf("cannot apply a statement on cluster %q: not a valid name (^[A-Za-z_][A-Za-z0-9_-]*$)", cluster)
	}
	on := " ON CLUSTER " + quoteIdent(cluster)
	switch {
	case createTableStmt.MatchString(stmt):
		m := createTableStmt.FindStringSubmatchIndex(stmt)
		db, name := stmt[m[2]:m[3]], stmt[m[4]:m[5]]
		engines := engineClause.FindAllStringSubmatchIndex(stmt, -1)
		if len(engines) != 1 {
			return nil, fmt.Errorf("cannot apply the statement creating %s.%s on cluster %q: want one line ENGINE = [Replacing|Aggregating|Summing]MergeTree(…), found %d", db, name, cluster, len(engines))
		}
		e := engines[0]
		args := "'" + fmt.Sprintf(ZooKeeperPath, database, name) + "', '{replica}'"
		if a := strings.TrimSpace(stmt[e[4]:e[5]]); a != "" {
			args += ", " + a
		}
		out := stmt[:m[5]] + on + stmt[m[5]:e[0]] + "ENGINE = Replicated" + stmt[e[2]:e[3]] + "(" + args + ")" + stmt[e[1]:]
		stmts := []string{out}
		if distributed(name) {
			stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+db+"."+name+DistributedSuffix+on+" AS "+db+"."+name+
				"\nENGINE = Distributed('"+cluster+"', '"+database+"', '"+name+"')")
		}
		return stmts, nil
	case createViewStmt.MatchString(stmt):
		i := strings.Index(stmt, " TO ")
		return []string{stmt[:i] + on + stmt[i:]}, nil
	case dropTableStmt.MatchString(stmt):
		m := dropTableStmt.FindStringSubmatch(stmt)
		db, name := m[1], m[2]
		var stmts []string
		if distributed(name) {
			stmts = append(stmts, "DROP TABLE IF EXISTS "+db+"."+name+DistributedSuffix+on)
		}
		return append(stmts, stmt+on), nil
	case strings.HasPrefix(stmt, "INSERT INTO "):
		return []string{stmt}, nil
	}
	return nil, fmt.Errorf("cannot apply a statement on cluster %q: not one OnCluster knows how to rewrite: %q", cluster, firstLine(stmt))
}

// distributed reports whether table (of any table set) has a Distributed table on a cluster.
func distributed(table string) bool {
	for _, set := range TableSets {
		if set != "" && strings.HasSuffix(table, set) {
			table = strings.TrimSuffix(table, set)
			break
		}
	}
	return slices.Contains(DistributedTables, table)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// ClusterStatements returns the migration's statements for database on every replica of
// cluster: Statements(database), each rewritten by OnCluster. An empty cluster returns
// Statements(database) unchanged.
func (m Migration) ClusterStatements(database, cluster string) ([]string, error) {
	stmts := m.Statements(database)
	if cluster == "" {
		return stmts, nil
	}
	var out []string
	for i, s := range stmts {
		on, err := OnCluster(s, database, cluster)
		if err != nil {
			return nil, fmt.Errorf("migration %04d_%s, statement %d: %w", m.Version, m.Name, i+1, err)
		}
		out = append(out, on...)
	}
	return out, nil
}

// MigrateCluster is Migrate on every replica of a ClickHouse cluster of one shard: cluster, as
// the servers' remote_servers name it, whose replicas have the {shard} and {replica} macros and
// a ZooKeeper. Every table is Replicated, DDL runs ON CLUSTER (through ZooKeeper's distributed
// DDL queue: each statement waits until every replica ran it, at most the server's
// distributed_ddl_task_timeout, 180 s by default), and the tables of DistributedTables get a
// Distributed table each (see OnCluster). conn is connected to one of the replicas.
//
// A database whose schema is up to date needs no DDL: MigrateCluster then only reads this
// replica's schema_migrations, so a loader starts while another replica is down. Applying a
// migration needs every replica up. An empty cluster is Migrate.
//
// It fails when cluster is not defined on the server or has more than one shard
// (ErrClusterUnsupported: FINAL folds duplicates within one shard only), or when the database
// was created on a single server (ErrNotReplicated: its tables cannot become Replicated in
// place).
func MigrateCluster(ctx context.Context, conn driver.Conn, database, cluster string) ([]Migration, error) {
	if cluster == "" {
		return Migrate(ctx, conn, database)
	}
	if !ValidDatabase(database) {
		return nil, fmt.Errorf("cannot migrate database %q: not a valid name (^[A-Za-z_][A-Za-z0-9_]*$, at most 64 bytes)", database)
	}
	if !ValidCluster(cluster) {
		return nil, fmt.Errorf("cannot migrate database %q on cluster %q: not a valid cluster name (^[A-Za-z_][A-Za-z0-9_-]*$, at most 64 bytes)", database, cluster)
	}
	if err := checkCluster(ctx, conn, cluster); err != nil {
		return nil, fmt.Errorf("cannot migrate database %q on cluster %q: %w", database, cluster, err)
	}
	return migrate(ctx, conn, database, cluster)
}

// checkCluster checks that the server defines cluster with one shard.
func checkCluster(ctx context.Context, conn driver.Conn, cluster string) error {
	var replicas, shards uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(shard_num) FROM system.clusters WHERE cluster = ?", cluster).Scan(&replicas, &shards); err != nil {
		return fmt.Errorf("cannot read system.clusters: %w", err)
	}
	switch {
	case replicas == 0:
		return fmt.Errorf("%w: the server defines no such cluster (remote_servers)", ErrClusterUnsupported)
	case shards != 1:
		return fmt.Errorf("%w: it has %d shards, and the schema supports one shard of any number of replicas (FINAL folds duplicates within a shard only)", ErrClusterUnsupported, shards)
	}
	return nil
}

// bootstrapCluster creates database and schema_migrations on every replica of cluster, unless
// this replica has schema_migrations already (then nothing runs ON CLUSTER, which would wait for
// every replica); a schema_migrations that is not Replicated is ErrNotReplicated.
func bootstrapCluster(ctx context.Context, conn driver.Conn, database, cluster string) error {
	var (
		n      uint64
		engine string
	)
	if err := conn.QueryRow(ctx, "SELECT count(), any(engine) FROM system.tables WHERE database = ? AND name = ?", database, MigrationsTable).Scan(&n, &engine); err != nil {
		return fmt.Errorf("cannot read system.tables: %w", err)
	}
	switch {
	case n > 0 && strings.HasPrefix(engine, "Replicated"):
		return nil
	case n > 0:
		return fmt.Errorf("cannot migrate database %q on cluster %q: its %s is a %s: %w (a single server's tables cannot become Replicated in place)",
			database, cluster, MigrationsTable, engine, ErrNotReplicated)
	}
	if err := conn.Exec(ctx, createDatabaseSQL(database)+" ON CLUSTER "+quoteIdent(cluster)); err != nil {
		return fmt.Errorf("cannot create database %q on cluster %q: %w", database, cluster, err)
	}
	stmts, err := OnCluster(migrationsTableSQL(database), database, cluster)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("cannot create table %q on cluster %q: %w", database+"."+MigrationsTable, cluster, err)
		}
	}
	return nil
}
