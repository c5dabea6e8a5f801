package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/ingestdev/ingest/internal/devstack"
)

// devFlags binds the flags of `ingest dev`: the whole pipeline in one process for a laptop
// (make run), each service on its own loopback port and wired as in production; see package
// devstack.
func devFlags(fs *flag.FlagSet, cfg *devstack.Config) {
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "directory of everything kept across restarts: ClickHouse, Kafka, registry, TLS, tokens")
	fs.StringVar(&cfg.EdgeAddr, "edge-listen", cfg.EdgeAddr, "the edge's HTTPS listener (clients send here)")
	fs.StringVar(&cfg.EdgeAdminAddr, "edge-admin-listen", cfg.EdgeAdminAddr, "the edge's /healthz, /readyz and /metrics")
	fs.StringVar(&cfg.ControlPlaneAddr, "controlplane-listen", cfg.ControlPlaneAddr, "the control plane's admin API (ingestctl's server)")
	fs.StringVar(&cfg.XDSAddr, "xds-listen", cfg.XDSAddr, "the control plane's xDS server")
	fs.StringVar(&cfg.NormalizerAddr, "normalizer-listen", cfg.NormalizerAddr, "the normalizer (ingest-v2)")
	fs.StringVar(&cfg.LegacyAddr, "legacy-listen", cfg.LegacyAddr, "the legacy stand-in (ingest-v1), counting what it receives at /stats")
	fs.StringVar(&cfg.SinkWriterAddr, "sinkwriter-listen", cfg.SinkWriterAddr, "the sink writer's internal API")
	fs.StringVar(&cfg.LoaderAddr, "loader-listen", cfg.LoaderAddr, "the loader's /healthz, /readyz and /metrics")
	fs.StringVar(&cfg.KafkaAddr, "kafka-listen", cfg.KafkaAddr, "the embedded Kafka broker")
	fs.StringVar(&cfg.KafkaAdminAddr, "kafka-admin-listen", cfg.KafkaAdminAddr, "the embedded Kafka's /healthz, /readyz and /metrics")
	fs.IntVar(&cfg.ClickHouseTCPPort, "clickhouse-port", cfg.ClickHouseTCPPort, "native port of the private ClickHouse (clickhouse-client --port)")
	fs.IntVar(&cfg.ClickHouseHTTPPort, "clickhouse-http-port", cfg.ClickHouseHTTPPort, "HTTP port of the private ClickHouse")
	fs.StringVar(&cfg.DemoTenant, "demo-tenant", cfg.DemoTenant, "tenant created at stage v2 on first start")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level of the services: debug, info, warn or error")
}

// runDev runs `ingest dev` with its parsed configuration, logging at its log level.
func runDev(ctx context.Context, _ *slog.Logger, cfg devstack.Config) error {
	lvl, _ := cfg.Level() // checked by Validate
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	fmt.Fprintf(os.Stderr, "ingest dev: starting ClickHouse, Kafka, sink writer, loader, normalizer, legacy stand-in, control plane and edge (data in %s)...\n", strings.TrimSuffix(cfg.DataDir, "/"))
	return devstack.Run(ctx, cfg, log, os.Stdout)
}
