// Package chmutation waits for ClickHouse mutations (ALTER TABLE … DELETE) to finish: take
// the list of a database's mutations before submitting, then wait until every mutation of the
// given tables that was not in it is done. ClickHouse 18.16 has no mutations_sync, so this
// polls system.mutations.
package chmutation

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Known is a database's mutations: per table, each mutation id and whether it is done.
type Known map[string]map[string]bool

// List returns the mutations system.mutations lists in database.
func List(ctx context.Context, conn driver.Conn, database string) (Known, error) {
	rows, err := conn.Query(ctx, "SELECT table, mutation_id, is_done FROM system.mutations WHERE database = ?", database)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := Known{}
	for rows.Next() {
		var table, id string
		var done uint8
		if err := rows.Scan(&table, &id, &done); err != nil {
			return nil, err
		}
		if out[table] == nil {
			out[table] = map[string]bool{}
		}
		out[table][id] = done != 0
	}
	return out, rows.Err()
}

// Pending lists, in the order of tables, the tables with a mutation in now that is not in
// before and not done.
func Pending(before, now Known, tables []string) []string {
	var out []string
	for _, t := range tables {
		for id, done := range now[t] {
			if _, old := before[t][id]; !old && !done {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// Wait polls database's mutations, first after poll and then at most every second, until no
// table of tables has a mutation that is not in before and not done. It returns the tables
// still pending, and ctx's error when ctx ended first or List's error when a read failed
// (the tables are then those pending at the last successful read, at first all of them).
func Wait(ctx context.Context, conn driver.Conn, database string, before Known, tables []string, poll time.Duration) ([]string, error) {
	pending := tables
	for wait := poll; ; wait = min(2*wait, time.Second) {
		now, err := List(ctx, conn, database)
		if err != nil {
			if ctx.Err() != nil {
				return pending, ctx.Err()
			}
			return pending, err
		}
		if pending = Pending(before, now, tables); len(pending) == 0 {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return pending, ctx.Err()
		case <-time.After(wait):
		}
	}
}
