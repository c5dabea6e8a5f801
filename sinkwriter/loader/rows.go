package loader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/record"
)

// Rows are rows of one signal's table, built by the loader's own column code, for an INSERT
// into any table with that signal's columns: the live and shadow tables the loader writes, or
// a replay's own tables (package migration/replay). Not safe for concurrent use.
type Rows struct{ c *columns }

// NewRows returns empty rows of signal s's table.
func NewRows(s record.Signal) (*Rows, error) {
	t, ok := tableOf(s, false)
	if !ok {
		return nil, fmt.Errorf("no table holds signal %d", s)
	}
	return &Rows{c: newColumns(t)}, nil
}

// Add appends r, read from topic and partition at offset, as one row.
func (r *Rows) Add(rec *record.Record, topic string, partition int32, offset int64) {
	r.c.add(rec, topic, partition, offset)
}

// Len returns the number of rows.
func (r *Rows) Len() int { return r.c.n }

// Reset drops every row, keeping the buffers.
func (r *Rows) Reset() { r.c.reset() }

// Insert inserts rows [lo, hi) into database.table as one native block (one INSERT, applied
// whole or not at all) within timeout. IsDataError says whether a failure blames the rows.
func (r *Rows) Insert(ctx context.Context, conn driver.Conn, timeout time.Duration, database, table string, lo, hi int) error {
	if lo < 0 || hi > r.c.n || lo > hi {
		return fmt.Errorf("rows [%d, %d) out of range [0, %d)", lo, hi, r.c.n)
	}
	return insertBlock(ctx, conn, timeout, insertQuery(database, table, r.c.t), table, r.c, lo, hi)
}

// ColumnNames returns the columns of signal s's tables, in the order the loader inserts
// them; nil for an unknown signal.
func ColumnNames(s record.Signal) []string {
	t, ok := tableOf(s, false)
	if !ok {
		return nil
	}
	return columnNames(t)
}

// IsDataError reports whether an error of Insert blames the inserted rows (retrying the same
// rows fails again) rather than ClickHouse (retrying may succeed).
func IsDataError(err error) bool {
	return err != nil && !errors.Is(err, context.Canceled) && isDataError(err)
}
