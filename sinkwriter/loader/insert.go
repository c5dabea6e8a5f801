package loader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// inserter inserts rows [lo, hi) of c into c's table as one INSERT, which ClickHouse applies
// atomically. It is the seam the tests replace.
type inserter interface {
	insert(ctx context.Context, c *columns, lo, hi int) error
}

// chInserter inserts with clickhouse-go native batches: one block per INSERT, every column
// named.
type chInserter struct {
	conn     driver.Conn
	database string
	timeout  time.Duration
}

func (ci *chInserter) insert(ctx context.Context, c *columns, lo, hi int) error {
	return insertBlock(ctx, ci.conn, ci.timeout, insertQuery(ci.database, c.t.String(), c.t), c.t.String(), c, lo, hi)
}

// insertBlock sends rows [lo, hi) of c with query (an INSERT naming columnNames(c.t)) as one
// native block within timeout; name is the table for errors.
func insertBlock(ctx context.Context, conn driver.Conn, timeout time.Duration, query, name string, c *columns, lo, hi int) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("cannot prepare %q: %w", name, err)
	}
	if err := c.send(b, lo, hi); err != nil {
		_ = b.Abort() // closes the connection: the server drops the unfinished INSERT
		return &dataError{fmt.Errorf("cannot build the INSERT into %q: %w", name, err)}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot insert %d rows into %q: %w", hi-lo, name, err)
	}
	return nil
}

// dataError marks an error caused by the rows themselves: retrying the same rows fails again.
type dataError struct{ err error }

func (e *dataError) Error() string { return e.err.Error() }
func (e *dataError) Unwrap() error { return e.err }

// dataErrorCode reports whether a ClickHouse exception code blames the inserted data rather
// than the server: an INSERT refused with one is bisected to find the rows at fault. Every other
// failure is transient and retried without end: a missing table, a full disk or a server that is
// down must not send good records to the dead letters.
func dataErrorCode(code int32) bool {
	switch code {
	case 6, // CANNOT_PARSE_TEXT
		27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
		38,  // CANNOT_PARSE_DATE
		41,  // CANNOT_PARSE_DATETIME
		53,  // TYPE_MISMATCH
		69,  // ARGUMENT_OUT_OF_BOUND
		70,  // CANNOT_CONVERT_TYPE
		72,  // CANNOT_PARSE_NUMBER
		117, // INCORRECT_DATA
		128, // TOO_LARGE_ARRAY_SIZE
		131, // TOO_LARGE_STRING_SIZE
		190, // SIZES_OF_ARRAYS_DONT_MATCH
		321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
		407, // DECIMAL_OVERFLOW
		565: // TOO_MANY_PARTITIONS (a batch spanning too many days: its halves fit)
		return true
	}
	return false
}

// isDataError reports whether err blames the inserted rows (see dataErrorCode), or is a
// client-side conversion error.
func isDataError(err error) bool {
	var de *dataError
	if errors.As(err, &de) {
		return true
	}
	var exc *clickhouse.Exception
	if errors.As(err, &exc) {
		return dataErrorCode(exc.Code)
	}
	var conv *column.ColumnConverterError
	return errors.As(err, &conv)
}
