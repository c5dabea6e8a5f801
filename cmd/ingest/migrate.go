package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// runMigrate runs `ingest migrate`: it applies the ClickHouse schema migrations that the
// database does not record yet (the loader does the same at start) and exits.
func runMigrate(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("ingest migrate", flag.ContinueOnError)
	cfg := loader.DefaultConfig()
	clickhouseAddr := fs.String("clickhouse", "127.0.0.1:9000", "ClickHouse native-protocol addresses, comma-separated host:port")
	fs.StringVar(&cfg.Database, "database", cfg.Database, "database to create and migrate")
	fs.StringVar(&cfg.Username, "username", cfg.Username, "ClickHouse user (the password comes from INGEST_CLICKHOUSE_PASSWORD)")
	timeout := fs.Duration("timeout", 2*time.Minute, "deadline of the whole migration")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.ClickHouseAddr = splitList(*clickhouseAddr)
	cfg.Password = os.Getenv("INGEST_CLICKHOUSE_PASSWORD")
	if !schema.ValidDatabase(cfg.Database) {
		return fmt.Errorf("cannot migrate database %q: not a valid name", cfg.Database)
	}
	conn, err := clickhouse.Open(loader.ClickHouseOptions(cfg))
	if err != nil {
		return fmt.Errorf("cannot open ClickHouse %q: %w", cfg.ClickHouseAddr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	applied, err := schema.Migrate(ctx, conn, cfg.Database)
	for _, m := range applied {
		log.Info("applied migration", "version", m.Version, "name", m.Name, "database", cfg.Database)
	}
	if err != nil {
		return err
	}
	log.Info("schema up to date", "database", cfg.Database, "applied", len(applied))
	return nil
}
