package schema

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrChecksumMismatch is returned by Migrate when a migration recorded as applied has another
// checksum than the embedded file of the same version.
var ErrChecksumMismatch = errors.New("applied migration has another checksum")

// Placeholder is replaced in migration SQL by the database, as a quoted identifier.
const Placeholder = "{db}"

// TableSetPlaceholder marks a statement that is applied once per table set: it is replaced by
// each of TableSets in turn.
const TableSetPlaceholder = "{set}"

// ShadowTableSet is the suffix of the shadow tables (logs_shadow, ...): where the mirrored
// traffic of a tenant in the shadow stage of a cutover lands, never in the live tables.
const ShadowTableSet = "_shadow"

// TableSets are the suffixes of the table sets: the live tables, and the shadow tables.
var TableSets = []string{"", ShadowTableSet}

// MigrationsTable records the applied migrations in each database.
const MigrationsTable = "schema_migrations"

// Migration is one versioned schema change.
type Migration struct {
	Version  int    // from the file name, 1 and up, without gaps
	Name     string // the file name without the version and extension
	Checksum string // hex SHA-256 of the file as embedded
	SQL      string // the file, with Placeholder for the database
}

// Statements returns the migration's statements for database: comment lines dropped, the
// statements split at lines ending with ';', Placeholder replaced, and each statement that names
// TableSetPlaceholder repeated once per table set.
func (m Migration) Statements(database string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(m.SQL, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = appendStatement(out, cur.String(), database)
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = appendStatement(out, s, database)
	}
	return out
}

// appendStatement appends stmt, once per table set when it names TableSetPlaceholder.
func appendStatement(out []string, stmt, database string) []string {
	if !strings.Contains(stmt, TableSetPlaceholder) {
		return append(out, finish(stmt, database))
	}
	for _, set := range TableSets {
		out = append(out, finish(strings.ReplaceAll(stmt, TableSetPlaceholder, set), database))
	}
	return out
}

func finish(stmt, database string) string {
	stmt = strings.TrimSuffix(strings.TrimSpace(stmt), ";")
	return strings.ReplaceAll(stmt, Placeholder, quoteIdent(database))
}

var fileName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded migrations in version order. It fails if a file is misnamed or
// versions repeat or leave a gap (a broken build, caught by the package's tests).
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("cannot read embedded migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("cannot load migration %q: the name is not NNNN_name.sql", e.Name())
		}
		data, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("cannot read migration %q: %w", e.Name(), err)
		}
		v, _ := strconv.Atoi(m[1])
		sum := sha256.Sum256(data)
		ms = append(ms, Migration{Version: v, Name: m[2], Checksum: hex.EncodeToString(sum[:]), SQL: string(data)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("cannot load migration %q: version %d, want %d (versions start at 1, without gaps or repeats)", m.Name, m.Version, i+1)
		}
	}
	return ms, nil
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidDatabase reports whether name is a database name the pipeline accepts:
// ^[A-Za-z_][A-Za-z0-9_]*$, at most 64 bytes.
func ValidDatabase(name string) bool { return len(name) <= 64 && identifier.MatchString(name) }

func quoteIdent(name string) string { return "`" + name + "`" }

// Migrate creates database if needed and applies every embedded migration that its
// schema_migrations table does not record, in order, recording each after its last statement
// succeeded. It first checks every recorded migration against the embedded one and returns an
// error wrapping ErrChecksumMismatch, applying nothing, if a checksum differs. Migrations
// recorded but unknown to this binary (a newer schema) are left alone. It returns the
// migrations it applied. conn may have any default database: every statement names database.
// MigrateCluster does the same on every replica of a cluster.
func Migrate(ctx context.Context, conn driver.Conn, database string) ([]Migration, error) {
	if !ValidDatabase(database) {
		return nil, fmt.Errorf("cannot migrate database %q: not a valid name (^[A-Za-z_][A-Za-z0-9_]*$, at most 64 bytes)", database)
	}
	return migrate(ctx, conn, database, "")
}

// createDatabaseSQL creates database (a valid name).
func createDatabaseSQL(database string) string {
	return "CREATE DATABASE IF NOT EXISTS " + quoteIdent(database)
}

// migrationsTableSQL creates database's schema_migrations.
func migrationsTableSQL(database string) string {
	return "CREATE TABLE IF NOT EXISTS " + quoteIdent(database) + "." + MigrationsTable + ` (
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version`
}

// migrate is Migrate ("" cluster) and MigrateCluster, after their checks. The checksums are
// those of the embedded files whatever the cluster: the rewrite for a cluster happens here, in
// code, so a file never changes for it.
func migrate(ctx context.Context, conn driver.Conn, database, cluster string) ([]Migration, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	if cluster == "" {
		if err := conn.Exec(ctx, createDatabaseSQL(database)); err != nil {
			return nil, fmt.Errorf("cannot create database %q: %w", database, err)
		}
		if err := conn.Exec(ctx, migrationsTableSQL(database)); err != nil {
			return nil, fmt.Errorf("cannot create table %q: %w", database+"."+MigrationsTable, err)
		}
	} else if err := bootstrapCluster(ctx, conn, database, cluster); err != nil {
		return nil, err
	}
	applied, err := Applied(ctx, conn, database)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		for _, a := range applied[m.Version] {
			if a.Checksum != m.Checksum {
				return nil, fmt.Errorf("cannot migrate database %q: migration %04d_%s was applied with checksum %s, the embedded file has %s: %w (never edit a shipped migration; add a new one)",
					database, m.Version, m.Name, a.Checksum, m.Checksum, ErrChecksumMismatch)
			}
		}
	}
	var done []Migration
	for _, m := range ms {
		if len(applied[m.Version]) > 0 {
			continue
		}
		stmts, err := m.ClusterStatements(database, cluster)
		if err != nil {
			return done, err
		}
		for i, stmt := range stmts {
			if err := conn.Exec(ctx, stmt); err != nil {
				return done, fmt.Errorf("cannot apply migration %q (statement %d): %w", fmt.Sprintf("%04d_%s", m.Version, m.Name), i+1, err)
			}
		}
		if err := record(ctx, conn, database, m); err != nil {
			return done, err
		}
		done = append(done, m)
	}
	return done, nil
}

// AppliedMigration is a row of schema_migrations.
type AppliedMigration struct {
	Version   int
	Name      string
	Checksum  string
	AppliedAt time.Time
}

// Applied returns the rows of database's schema_migrations by version (a version may have
// several rows when two processes migrated at once).
func Applied(ctx context.Context, conn driver.Conn, database string) (map[int][]AppliedMigration, error) {
	rows, err := conn.Query(ctx, "SELECT version, name, checksum, applied_at FROM "+quoteIdent(database)+"."+MigrationsTable)
	if err != nil {
		return nil, fmt.Errorf("cannot read table %q: %w", database+"."+MigrationsTable, err)
	}
	defer rows.Close()
	out := make(map[int][]AppliedMigration)
	for rows.Next() {
		var (
			v uint32
			a AppliedMigration
		)
		if err := rows.Scan(&v, &a.Name, &a.Checksum, &a.AppliedAt); err != nil {
			return nil, fmt.Errorf("cannot read table %q: %w", database+"."+MigrationsTable, err)
		}
		a.Version = int(v)
		out[a.Version] = append(out[a.Version], a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read table %q: %w", database+"."+MigrationsTable, err)
	}
	return out, nil
}

// record inserts m into schema_migrations (as a native batch: 18.16 cannot take INSERT … VALUES
// from clickhouse-go).
func record(ctx context.Context, conn driver.Conn, database string, m Migration) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+quoteIdent(database)+"."+MigrationsTable+" (version, name, checksum, applied_at)")
	if err != nil {
		return fmt.Errorf("cannot record migration %q: %w", m.Name, err)
	}
	if err := b.Append(uint32(m.Version), m.Name, m.Checksum, time.Now()); err != nil {
		_ = b.Abort()
		return fmt.Errorf("cannot record migration %q: %w", m.Name, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot record migration %q: %w", m.Name, err)
	}
	return nil
}
