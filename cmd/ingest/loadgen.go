package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/loadgen"
	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// runLoadgen runs `ingest loadgen`: it drives the pipeline over HTTPS with the tenants given,
// for a bounded duration, and prints the report (docs/loadgen.md).
func runLoadgen(ctx context.Context, log *slog.Logger, fs *flag.FlagSet, args []string) error {
	cfg := loadgen.DefaultConfig()
	fs.StringVar(&cfg.Target, "target", cfg.Target, "base URL of the edge")
	fs.StringVar(&cfg.CAFile, "ca-file", "", "PEM file of the CAs that sign the edge's certificate (default: the system pool)")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "do not verify the edge's certificate (dev only)")
	fs.BoolVar(&cfg.HTTP1, "http1", false, "use HTTP/1.1 keep-alive (one request at a time per connection) instead of HTTP/2")
	var tenantArgs []string
	fs.Func("tenant", "a tenant, name=KEY[:profile] (repeatable); name is the tenant id the edge resolves KEY to", func(s string) error {
		tenantArgs = append(tenantArgs, s)
		return nil
	})
	tenantsFile := fs.String("tenants-file", "", "file of tenants, one name,key[,profile] per line ('#' comments)")
	profile := fs.String("profile", "steady:100", "profile of tenants that name none: steady:<events/s> or burst:<base>:<peak>:<period>[:<duty>]")
	mix := fs.String("mix", "ndjson=50,otlp-proto=30,otlp-json=20", "weights of the request formats (ndjson, otlp-proto, otlp-json, otlp-grpc)")
	signals := fs.String("signals", "logs=60,metrics=30,traces=10", "weights of the signals")
	fs.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "events per request")
	fs.IntVar(&cfg.Connections, "connections", cfg.Connections, "HTTP clients, each with its own connection")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "requests in flight over all tenants (HTTP/1.1: at most --connections)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long requests are started; the run ends within --request-timeout (+ --marker-grace) after")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "deadline of each request")
	fs.IntVar(&cfg.PoolSize, "pool-size", cfg.PoolSize, "pre-generated bodies per tenant, format and signal")
	fs.BoolVar(&cfg.RespectRetryAfter, "respect-retry-after", false, "pause a tenant for the Retry-After of a 429/503 (default: keep the profile, only count)")
	clickhouseAddr := fs.String("clickhouse", "", "ClickHouse native-protocol addresses, comma-separated host:port, for end-to-end latency (empty: no markers)")
	database := fs.String("database", loader.DefaultDatabase, "ClickHouse database of the logs table")
	username := fs.String("username", "default", "ClickHouse user (the password comes from INGEST_CLICKHOUSE_PASSWORD)")
	fs.DurationVar(&cfg.MarkerInterval, "marker-interval", cfg.MarkerInterval, "how often each tenant sends a marker log (0: none)")
	fs.Func("marker-tenant", "a tenant that sends markers (repeatable; default: every tenant); a dedicated low-volume one keeps the probe off the measured load", func(s string) error {
		cfg.MarkerTenants = append(cfg.MarkerTenants, s)
		return nil
	})
	fs.DurationVar(&cfg.MarkerGrace, "marker-grace", cfg.MarkerGrace, "how long markers may still become visible after the last request")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", cfg.PollInterval, "how often ClickHouse is asked for outstanding markers (the resolution of e2e latency)")
	fs.DurationVar(&cfg.ProgressInterval, "progress-interval", cfg.ProgressInterval, "how often a progress line goes to stderr")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the generated bodies and the format choice")
	output := fs.String("o", "table", "report format: table or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("cannot write report as %q: want table or json", *output)
	}
	def, err := loadgen.ParseProfile(*profile)
	if err != nil {
		return err
	}
	if *tenantsFile != "" {
		f, err := os.Open(*tenantsFile)
		if err != nil {
			return fmt.Errorf("cannot open tenants file %q: %w", *tenantsFile, err)
		}
		ts, err := loadgen.ParseTenantsFile(f, def)
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *tenantsFile, err)
		}
		cfg.Tenants = append(cfg.Tenants, ts...)
	}
	for _, s := range tenantArgs {
		t, err := loadgen.ParseTenant(s, def)
		if err != nil {
			return err
		}
		cfg.Tenants = append(cfg.Tenants, t)
	}
	if cfg.Formats, err = loadgen.ParseWeights(*mix, []loadgen.Format{loadgen.FormatNDJSON, loadgen.FormatOTLPProto, loadgen.FormatOTLPJSON, loadgen.FormatOTLPGRPC}); err != nil {
		return fmt.Errorf("--mix: %w", err)
	}
	if cfg.Signals, err = loadgen.ParseWeights(*signals, []loadgen.Signal{loadgen.SignalLogs, loadgen.SignalMetrics, loadgen.SignalTraces}); err != nil {
		return fmt.Errorf("--signals: %w", err)
	}
	cfg.Progress = os.Stderr

	var vis loadgen.Visibility
	if *clickhouseAddr != "" {
		if !schema.ValidDatabase(*database) {
			return fmt.Errorf("cannot use database %q: not a valid name", *database)
		}
		ch, err := loadgen.NewClickHouseVisibility(config.SplitList(*clickhouseAddr), *database, *username, os.Getenv("INGEST_CLICKHOUSE_PASSWORD"))
		if err != nil {
			return err
		}
		defer ch.Close()
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = ch.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
		vis = ch
	}
	r, err := loadgen.New(cfg, vis)
	if err != nil {
		return err
	}
	log.Info("starting load", "target", cfg.Target, "tenants", len(cfg.Tenants), "duration", cfg.Duration,
		"batch_size", cfg.BatchSize, "connections", cfg.Connections, "e2e", vis != nil)
	rep, runErr := r.Run(ctx)
	var werr error
	if *output == "json" {
		werr = loadgen.WriteJSON(os.Stdout, rep)
	} else {
		werr = loadgen.WriteTable(os.Stdout, rep)
	}
	if errors.Is(runErr, context.Canceled) {
		runErr = nil // interrupted: the partial report was printed
	}
	return errors.Join(runErr, werr)
}
