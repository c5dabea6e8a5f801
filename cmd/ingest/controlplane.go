package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ingestdev/ingest/controlplane"
)

// runControlPlane runs `ingest controlplane`: the tenant registry, the admin API (with
// /metrics and /healthz) and the xDS server for the edge.
func runControlPlane(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("ingest controlplane", flag.ContinueOnError)
	cfg := controlplane.DefaultConfig()
	fs.StringVar(&cfg.Admin.ListenAddress, "admin-listen", cfg.Admin.ListenAddress, "address of the admin API, /healthz and /metrics (ingestctl's --server)")
	fs.StringVar(&cfg.Registry.Path, "data", cfg.Registry.Path, "registry file (bbolt; created if missing; one process at a time)")
	fs.StringVar(&cfg.Admin.TokenFile, "admin-token-file", "", "file holding the admin bearer token (or set INGEST_ADMIN_TOKEN)")
	fs.DurationVar(&cfg.Admin.ShutdownTimeout, "shutdown-timeout", cfg.Admin.ShutdownTimeout, "how long requests in progress may finish at shutdown")
	fs.StringVar(&cfg.XDS.ListenAddress, "xds-listen", "127.0.0.1:18000", "address of the xDS gRPC server (ADS, SotW and delta)")
	fs.StringVar(&cfg.XDS.CertFile, "tls-cert", "", "PEM certificate chain of the edge listener, served to edges over SDS (reloaded on change); xDS runs only with --tls-cert and --tls-key")
	fs.StringVar(&cfg.XDS.KeyFile, "tls-key", "", "PEM private key of the edge listener")
	fs.Int64Var(&cfg.XDS.Edge.MaxInFlightBytes, "edge-max-inflight-bytes", 0, "request bytes the edge holds at once before it answers 503 err-ingest-edge-full (0: 256 MiB)")
	fs.Int64Var(&cfg.XDS.Edge.MaxRequestBodyBytes, "edge-max-request-body-bytes", 0, "largest request body at the edge, 413 above it; at most --edge-max-inflight-bytes (0: 8 MiB)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Admin.TokenFile == "" {
		cfg.Admin.Token = os.Getenv("INGEST_ADMIN_TOKEN")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return controlplane.Run(ctx, log, cfg, reg)
}
