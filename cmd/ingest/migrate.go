package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// runMigrate runs `ingest migrate`: it applies the ClickHouse schema migrations that the
// database does not record yet (the loader does the same at start) and exits. It reads the
// loader's config file (its loader.clickhouse_addr, database, username, password and
// migrate_timeout; the other keys are accepted and unused).
func runMigrate(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("ingest migrate", flag.ContinueOnError)
	cfg := loaderFlags(fs)
	fs.DurationVar(&cfg.MigrateTimeout, "timeout", cfg.MigrateTimeout, "deadline of the whole migration")
	if err := config.Parse(fs, args, cfg); err != nil {
		return err
	}
	return loader.Migrate(ctx, *cfg, log)
}
