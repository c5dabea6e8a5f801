package apitest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// ClickHouse starts a private ClickHouse (chtest.Start: the test is skipped without a server
// binary), applies the schema migrations to database and returns a connection pool to it,
// closed when the test ends, and the api.ClickHouse to serve it with.
func ClickHouse(t testing.TB, database string) (driver.Conn, api.ClickHouse) {
	t.Helper()
	s := chtest.Start(t)
	conn, err := clickhouse.Open(s.Options(""))
	if err != nil {
		t.Fatalf("cannot open ClickHouse %s: %v", s.Addr(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := schema.Migrate(ctx, conn, database); err != nil {
		t.Fatalf("cannot migrate database %s: %v", database, err)
	}
	return conn, api.ClickHouse{Conn: conn, Database: database, Timeout: time.Minute, PollInterval: 50 * time.Millisecond}
}

// InsertRows inserts n rows of tenant into database.table, a logs or metrics table (live or
// shadow: logs, logs_shadow, metrics, metrics_shadow), naming the columns it sets (the others
// take their defaults). Metrics rows also enter the table set's roll-ups through their views.
// Each row has its own event id, so none replaces another.
func InsertRows(t testing.TB, conn driver.Conn, database, table, tenant string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cols := "tenant, time, time_unix_nano, event_id, name, kafka_topic, kafka_partition, kafka_offset"
	if strings.HasPrefix(table, "metrics") {
		cols += ", series_id, value"
	}
	// 18.16 takes inserts as native batches only (an INSERT … VALUES through Exec hangs).
	b, err := conn.PrepareBatch(ctx, "INSERT INTO `"+database+"`.`"+table+"` ("+cols+")")
	if err != nil {
		t.Fatalf("cannot prepare an insert into %s.%s: %v", database, table, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for i := range n {
		row := []any{tenant, now, now.UnixNano() + int64(i), fmt.Sprintf("%-16.16s", fmt.Sprintf("%s-%d", tenant, i)), "name-" + fmt.Sprint(i%3),
			"ingest." + tenant + ".shadow", int32(0), int64(i)}
		if strings.HasPrefix(table, "metrics") {
			row = append(row, uint64(i%3), float64(i))
		}
		if err := b.Append(row...); err != nil {
			t.Fatalf("cannot append a row to %s.%s: %v", database, table, err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("cannot insert %d rows into %s.%s: %v", n, database, table, err)
	}
}
