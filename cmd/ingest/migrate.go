package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// migrateFlags binds the flags of `ingest migrate`: it applies the ClickHouse schema
// migrations that the database does not record yet (the loader does the same at start) and
// exits; with --clickhouse-cluster, on every replica of that cluster (ON CLUSTER, Replicated and
// Distributed tables). It reads the loader's config file (its loader.clickhouse_addr,
// clickhouse_cluster, database, username, password and migrate_timeout; the other keys are
// accepted and unused).
func migrateFlags(fs *flag.FlagSet, cfg *loader.ServiceConfig) {
	clickHouseFlags(fs, cfg)
	fs.DurationVar(&cfg.MigrateTimeout, "timeout", cfg.MigrateTimeout, "deadline of the whole migration")
}

// migrate runs `ingest migrate` with its parsed configuration.
func migrate(ctx context.Context, log *slog.Logger, cfg loader.ServiceConfig) error {
	return loader.Migrate(ctx, cfg, log)
}
