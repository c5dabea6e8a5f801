package loadgen

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ClickHouseVisibility finds markers in the logs table of a database, the documented query path
// of docs/sinkwriter.md: a marker is visible when a row of the tenant with its body exists.
type ClickHouseVisibility struct {
	conn     driver.Conn
	database string
}

// NewClickHouseVisibility opens a connection (native protocol) to the addresses; the queries
// read database.logs. Close releases the connection.
func NewClickHouseVisibility(addrs []string, database, username, password string) (*ClickHouseVisibility, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        addrs,
		Auth:        clickhouse.Auth{Database: database, Username: username, Password: password},
		DialTimeout: 5 * time.Second,
		ClientInfo:  clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "ingest-loadgen", Version: "1"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open ClickHouse %q: %w", addrs, err)
	}
	return &ClickHouseVisibility{conn: conn, database: database}, nil
}

// Ping checks that ClickHouse answers and the logs table exists.
func (c *ClickHouseVisibility) Ping(ctx context.Context) error {
	var n uint64
	if err := c.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'logs'", c.database).Scan(&n); err != nil {
		return fmt.Errorf("cannot query ClickHouse: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("cannot find table %s.logs in ClickHouse (run ingest migrate)", c.database)
	}
	return nil
}

// Visible implements Visibility. The time range starts a minute before since (the marker's
// own timestamp is its send time; the minute covers clock skew).
func (c *ClickHouseVisibility) Visible(ctx context.Context, tenant string, since time.Time, markers []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	q := fmt.Sprintf("SELECT DISTINCT body FROM `%s`.logs WHERE tenant = ? AND time >= toDateTime(?) AND has(?, body)", c.database)
	rows, err := c.conn.Query(ctx, q, tenant, since.Add(-time.Minute).Unix(), markers)
	if err != nil {
		return nil, fmt.Errorf("cannot query markers of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("cannot read markers of tenant %q: %w", tenant, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read markers of tenant %q: %w", tenant, err)
	}
	return out, nil
}

// Close closes the connection.
func (c *ClickHouseVisibility) Close() error { return c.conn.Close() }
