package chreplica

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/internal/chmutation"
)

// ErrNotReplicated is returned by Behind and Wait when a table it was given is not a Replicated
// table of the database on the server the connection reaches: the tables were created for one
// server, or the component's cluster option does not match the servers.
var ErrNotReplicated = errors.New("not Replicated tables")

// Behind returns "" when the replica conn reaches holds every part of tables (of database) that
// any replica had committed to ZooKeeper when the check began, and has no mutation of them in
// progress; otherwise what it still lacks, for a log line or an error message. It reads in two
// steps: first that the replica has pulled every entry of each table's replication log into its
// queue (log_pointer past log_max_index, or an empty log), then that its queue holds no part to
// fetch (inserts_in_queue) and that it is not read-only; a part committed before the first step
// is then local. An error is a failed read, or ErrNotReplicated. Each call is a few queries;
// safe for concurrent use when conn is.
//
// The check holds for the server it ran on: a caller that reads afterwards must read on the same
// server (one pooled connection, or a pool whose connections reach one server).
func Behind(ctx context.Context, conn driver.Conn, database string, tables []string) (string, error) {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = "'" + strings.ReplaceAll(strings.ReplaceAll(t, `\`, `\\`), `'`, `\'`) + "'"
	}
	in := "database = ? AND table IN (" + strings.Join(names, ", ") + ")"

	rows, err := conn.Query(ctx, "SELECT table, zookeeper_path, log_pointer, log_max_index FROM system.replicas WHERE "+in, database)
	if err != nil {
		return "", fmt.Errorf("cannot read system.replicas: %w", err)
	}
	seen := 0
	var behind []string
	for rows.Next() {
		var (
			table, path          string
			pointer, maxLogIndex uint64
		)
		if err := rows.Scan(&table, &path, &pointer, &maxLogIndex); err != nil {
			rows.Close()
			return "", fmt.Errorf("cannot read system.replicas: %w", err)
		}
		seen++
		switch {
		case pointer > maxLogIndex:
		case pointer == 0 && maxLogIndex == 0: // no entry pulled yet: is the log empty?
			var n uint64
			if err := conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = ?", path+"/log").Scan(&n); err != nil {
				rows.Close()
				return "", fmt.Errorf("cannot read the replication log of %s: %w", table, err)
			}
			if n > 0 {
				behind = append(behind, table+": replication log not read yet")
			}
		default:
			behind = append(behind, fmt.Sprintf("%s: replication log read to %d of %d", table, pointer, maxLogIndex+1))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("cannot read system.replicas: %w", err)
	}
	if seen != len(tables) {
		return "", fmt.Errorf("%w: %d of the %d tables %s are Replicated tables of database %q on this server", ErrNotReplicated, seen, len(tables), strings.Join(tables, ", "), database)
	}
	if len(behind) > 0 {
		return strings.Join(behind, "; "), nil
	}

	var fetches, readonly, mutations uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(sum(inserts_in_queue)), toUInt64(sum(is_readonly)) FROM system.replicas WHERE "+in, database).Scan(&fetches, &readonly); err != nil {
		return "", fmt.Errorf("cannot read system.replicas: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE is_done = 0 AND "+in, database).Scan(&mutations); err != nil {
		return "", fmt.Errorf("cannot read system.mutations: %w", err)
	}
	switch {
	case readonly > 0:
		return fmt.Sprintf("%d tables read-only (no ZooKeeper session)", readonly), nil
	case fetches > 0:
		return fmt.Sprintf("%d parts to fetch from other replicas", fetches), nil
	case mutations > 0:
		return fmt.Sprintf("%d mutations in progress", mutations), nil
	}
	return "", nil
}

// Wait calls Behind every poll until the replica holds everything (it returns ""), timeout has
// passed since the first check (it returns what the replica still lacks), ctx ends (ctx's
// error) or a check fails (its error). It checks at least once.
func Wait(ctx context.Context, conn driver.Conn, database string, tables []string, timeout, poll time.Duration) (string, error) {
	for deadline := time.Now().Add(timeout); ; {
		behind, err := Behind(ctx, conn, database, tables)
		if err != nil || behind == "" || time.Now().After(deadline) {
			return behind, err
		}
		select {
		case <-ctx.Done():
			return behind, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// WaitMutations is chmutation.Wait for mutations just submitted on Replicated tables: a replica
// lists a mutation in system.mutations only once it has loaded it from ZooKeeper, moments after
// the ALTER returned, and chmutation.Wait alone would find nothing pending before that. It first
// waits until every table of tables lists a mutation that is not in before (one was submitted
// on each), then until those are done on this replica; the other replicas run the same mutation
// on their own parts. It returns the tables still pending and ctx's error when ctx ended first,
// or the read's error.
func WaitMutations(ctx context.Context, conn driver.Conn, database string, before chmutation.Known, tables []string, poll time.Duration) ([]string, error) {
	for wait := poll; ; wait = min(2*wait, time.Second) {
		now, err := chmutation.List(ctx, conn, database)
		if err != nil {
			if ctx.Err() != nil {
				return tables, ctx.Err()
			}
			return tables, err
		}
		listed := true
		for _, t := range tables {
			found := false
			for id := range now[t] {
				if _, old := before[t][id]; !old {
					found = true
					break
				}
			}
			listed = listed && found
		}
		if listed {
			break
		}
		select {
		case <-ctx.Done():
			return tables, ctx.Err()
		case <-time.After(wait):
		}
	}
	return chmutation.Wait(ctx, conn, database, before, tables, poll)
}
