package schema_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

func TestMigrationsLoadInOrderAndSplitIntoStatements(t *testing.T) {
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("migrations = %+v, want version 1 first", ms)
	}
	for _, m := range ms {
		stmts := m.Statements("ingest_x")
		if len(stmts) == 0 {
			t.Errorf("migration %d has no statements", m.Version)
		}
		for _, s := range stmts {
			if strings.Contains(s, schema.Placeholder) || strings.HasSuffix(s, ";") || strings.HasPrefix(strings.TrimSpace(s), "--") {
				t.Errorf("migration %d: statement not finished: %q", m.Version, s)
			}
			if !strings.Contains(s, "`ingest_x`.") {
				t.Errorf("migration %d: statement does not name the database: %q", m.Version, s)
			}
			if !idempotent(s) {
				t.Errorf("migration %d: statement is not idempotent (CREATE … IF NOT EXISTS, DROP TABLE IF EXISTS, or an INSERT of roll-up markers): %q", m.Version, firstLine(s))
			}
		}
	}
}

// TestMigrationsAvoidSyntaxThatOldOrNewClickHouseRejects guards the contract: the schema runs on
// Debian's 18.16 and on current ClickHouse.
func TestMigrationsAvoidSyntaxThatOldOrNewClickHouseRejects(t *testing.T) {
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{
		"Map(", "JSON", "DateTime64", "LowCardinality", "CODEC(", " TTL ", "SimpleAggregateFunction",
		"toStartOfInterval", "toStartOfTenMinutes", "toStartOfFifteenMinutes", // not in 18.16
		"ENGINE = MergeTree ", "ENGINE = ReplacingMergeTree\n", // old syntax needs the parentheses
		"SETTINGS allow_", "async_insert",
	}
	for _, m := range ms {
		sql := strings.Join(m.Statements("db"), "\n") // without the comments
		for _, f := range forbidden {
			if strings.Contains(sql, f) {
				t.Errorf("migration %04d_%s uses %q", m.Version, m.Name, f)
			}
		}
	}
}

// idempotent reports whether a migration statement is harmless to run again: a CREATE … IF
// NOT EXISTS, a DROP TABLE IF EXISTS (only derived tables are dropped: see 0002), or an
// INSERT into the roll-up markers (a marker again only recomputes a window again).
func idempotent(stmt string) bool {
	s := strings.TrimSpace(stmt)
	switch {
	case strings.HasPrefix(s, "CREATE ") && strings.Contains(firstLine(s), " IF NOT EXISTS "):
		return true
	case strings.HasPrefix(s, "DROP TABLE IF EXISTS "):
		return true
	case strings.HasPrefix(s, "INSERT INTO ") && strings.Contains(firstLine(s), ".metrics_windows"):
		return true
	}
	return false
}

// TestMigration0002DropsOnlyTheRollups guards the one migration that drops: it may drop only
// the roll-up tables and views, which are derived data.
func TestMigration0002DropsOnlyTheRollups(t *testing.T) {
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	drops := 0
	for _, m := range ms {
		for _, s := range m.Statements("db") {
			if !strings.HasPrefix(s, "DROP") {
				continue
			}
			drops++
			name := strings.TrimPrefix(s, "DROP TABLE IF EXISTS `db`.")
			name = strings.TrimSuffix(strings.TrimSuffix(name, "_mv"), schema.ShadowTableSet)
			if m.Version != 2 || !slices.Contains([]string{"metrics_1m", "metrics_10m", "metrics_60m"}, name) {
				t.Errorf("migration %d drops %q: only 0002 may drop, and only the roll-ups", m.Version, s)
			}
		}
	}
	if drops != 12 {
		t.Errorf("%d DROP statements, want 12 (3 views and 3 tables, per table set)", drops)
	}
}

func TestValidDatabase(t *testing.T) {
	for name, want := range map[string]bool{"ingest": true, "_x1": true, "": false, "1x": false, "a-b": false, "a`b": false, strings.Repeat("a", 65): false} {
		if got := schema.ValidDatabase(name); got != want {
			t.Errorf("ValidDatabase(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestMigrateIsIdempotentAndRecordsEachVersion(t *testing.T) {
	ch := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ms, _ := schema.Migrations()

	applied, err := schema.Migrate(ctx, ch.Conn(), "ingest")
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(ms) {
		t.Fatalf("first run applied %d migrations, want %d", len(applied), len(ms))
	}
	applied, err = schema.Migrate(ctx, ch.Conn(), "ingest")
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("second run applied %d migrations, want 0", len(applied))
	}
	rec, err := schema.Applied(ctx, ch.Conn(), "ingest")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if got := rec[m.Version]; len(got) != 1 || got[0].Checksum != m.Checksum || got[0].Name != m.Name {
			t.Errorf("schema_migrations for version %d = %+v, want one row with checksum %s", m.Version, got, m.Checksum)
		}
	}
	want := []string{"loader_offsets", "loader_topics", "logs", "logs_shadow", "metrics", "metrics_10m", "metrics_10m_shadow",
		"metrics_1m", "metrics_1m_shadow", "metrics_60m", "metrics_60m_shadow", "metrics_shadow",
		"metrics_windows", "metrics_windows_shadow", "rollup_state", "schema_migrations", "spans", "spans_shadow"}
	got := tables(t, ch, "ingest", "engine != 'MaterializedView'")
	if !slices.Equal(got, want) {
		t.Errorf("tables = %v, want %v", got, want)
	}
	views := tables(t, ch, "ingest", "engine = 'MaterializedView'")
	if len(views) != 8 {
		t.Errorf("materialized views = %v, want 8 (6 ledger, 2 roll-up markers)", views)
	}
	for _, rollup := range []string{"metrics_1m", "metrics_10m_shadow", "metrics_60m"} {
		if engine := tables(t, ch, "ingest", "name = '"+rollup+"' AND engine = 'ReplacingMergeTree'"); len(engine) != 1 {
			t.Errorf("%s is not a ReplacingMergeTree: the roll-ups of 0001 were not replaced", rollup)
		}
	}
}

func TestMigrateRefusesAMigrationWhoseChecksumChanged(t *testing.T) {
	ch := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := schema.Migrate(ctx, ch.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	// As if 0001 had been applied from a file that was edited since.
	b, err := ch.Conn().PrepareBatch(ctx, "INSERT INTO ingest.schema_migrations (version, name, checksum, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint32(1), "initial", "0000", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	_, err = schema.Migrate(ctx, ch.Conn(), "ingest")
	if !errors.Is(err, schema.ErrChecksumMismatch) {
		t.Fatalf("Migrate = %v, want ErrChecksumMismatch", err)
	}
}

func TestShadowTablesHaveTheLiveTablesColumns(t *testing.T) {
	ch := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := schema.Migrate(ctx, ch.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	for _, live := range []string{"logs", "metrics", "spans", "metrics_1m", "metrics_10m", "metrics_60m", "metrics_windows"} {
		a, b := columns(t, ch, live), columns(t, ch, live+"_shadow")
		if len(a) == 0 || !slices.Equal(a, b) {
			t.Errorf("%s columns %v\n%s_shadow columns %v", live, a, live, b)
		}
	}
}

func TestMigrateRejectsAnInvalidDatabaseName(t *testing.T) {
	if _, err := schema.Migrate(context.Background(), nil, "no-dashes"); err == nil {
		t.Fatal("Migrate accepted database \"no-dashes\"")
	}
}

func tables(t *testing.T, ch *chtest.Server, db, where string) []string {
	t.Helper()
	rows, err := ch.Conn().Query(context.Background(), "SELECT name FROM system.tables WHERE database = ? AND "+where+" ORDER BY name", db)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func columns(t *testing.T, ch *chtest.Server, table string) []string {
	t.Helper()
	rows, err := ch.Conn().Query(context.Background(), "SELECT name, type FROM system.columns WHERE database = 'ingest' AND table = ?", table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			t.Fatal(err)
		}
		out = append(out, n+" "+ty)
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
