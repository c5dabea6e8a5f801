package main

import (
	"flag"
	"os"

	"github.com/ingestdev/ingest/controlplane"
	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// controlPlaneFlags binds the flags of `ingest controlplane`: the tenant registry, the admin
// API (with /healthz, /readyz and /metrics) and the xDS server for the edge.
func controlPlaneFlags(fs *flag.FlagSet, cfg *controlplane.Config) {
	x := &cfg.XDS
	fs.StringVar(&cfg.Admin.ListenAddress, "admin-listen", cfg.Admin.ListenAddress, "address of the admin API, /healthz, /readyz and /metrics (ingestctl's --server)")
	fs.StringVar(&cfg.Registry.Path, "data", cfg.Registry.Path, "registry file (bbolt; created if missing; one process at a time)")
	fs.StringVar(&cfg.Admin.TokenFile, "admin-token-file", "", "file holding the admin bearer token (or set INGEST_ADMIN_TOKEN)")
	fs.StringVar(&cfg.Admin.ReportTokenFile, "report-token-file", "", "file holding the bearer token edges, normalizers and loaders report cutover parity with (or set INGEST_REPORT_TOKEN)")
	config.ListVar(fs, &cfg.ClickHouse.Addr, "clickhouse", "ClickHouse native-protocol addresses, comma-separated host:port, for ingestctl cutover clear-shadow (user clickhouse.username, password from "+loader.PasswordEnv+"); empty: off")
	fs.StringVar(&cfg.ClickHouse.Cluster, "clickhouse-cluster", cfg.ClickHouse.Cluster, "ClickHouse cluster of one shard (remote_servers) that --clickhouse lists the replicas of; the loaders' clickhouse_cluster; empty: one server")
	config.ListVar(fs, &cfg.Replay.Brokers, "replay-brokers", "Kafka brokers of the tenant topics, comma-separated host:port, for ingestctl replay (needs --clickhouse); empty: replay off")
	fs.StringVar(&cfg.Replay.TopicPattern, "replay-topic-pattern", cfg.Replay.TopicPattern, "a tenant's topic, {tenant} replaced by its id (the sink writer's topic_pattern)")
	fs.IntVar(&cfg.Replay.Rate, "replay-rate", cfg.Replay.Rate, "default throttle of a replay run, records per second (a plan may set its own)")
	fs.DurationVar(&cfg.Admin.ShutdownTimeout, "shutdown-timeout", cfg.Admin.ShutdownTimeout, "how long requests in progress may finish at shutdown")
	fs.StringVar(&x.ListenAddress, "xds-listen", "127.0.0.1:18000", "address of the xDS gRPC server (ADS, SotW and delta)")
	fs.StringVar(&x.HopKeyFile, "hop-key-file", x.HopKeyFile, "hop key file of the normalizers (hop_auth.key_file): its first key is sent to the edge filters, which sign admitted requests with it")
	fs.StringVar(&x.CertFile, "tls-cert", "", "PEM certificate chain of the edge listener, served to edges over SDS (reloaded on change); xDS runs only with --tls-cert and --tls-key")
	fs.StringVar(&x.KeyFile, "tls-key", "", "PEM private key of the edge listener")
	fs.StringVar(&x.ServerTLS.CertFile, "xds-cert", x.ServerTLS.CertFile, "PEM certificate chain the xDS server presents to the edges (mutual TLS; reloaded on change)")
	fs.StringVar(&x.ServerTLS.KeyFile, "xds-key", x.ServerTLS.KeyFile, "PEM private key of --xds-cert")
	fs.StringVar(&x.ServerTLS.ClientCAFile, "xds-client-ca", x.ServerTLS.ClientCAFile, "PEM CA bundle of the edges' client certificates; an edge without one it signed gets nothing (reloaded on change)")
	fs.StringVar(&x.FilterLibraryPath, "filter-library-path", "", "where the edge filter's .so is on the Envoy hosts (empty: the default)")
	fs.Int64Var(&x.Edge.MaxInFlightBytes, "edge-max-inflight-bytes", 0, "request bytes the edge holds at once before it answers 503 err-ingest-edge-full (0: 256 MiB)")
	fs.Int64Var(&x.Edge.MaxRequestBodyBytes, "edge-max-request-body-bytes", 0, "largest request body at the edge, 413 above it; at most --edge-max-inflight-bytes (0: 8 MiB)")
}

// controlPlaneDefaults returns the control plane's defaults with the admin token from
// INGEST_ADMIN_TOKEN (or admin.token_file; never both), the report token from
// INGEST_REPORT_TOKEN and the ClickHouse password from INGEST_CLICKHOUSE_PASSWORD.
func controlPlaneDefaults() controlplane.Config {
	cfg := controlplane.DefaultConfig()
	cfg.Admin.Token = os.Getenv("INGEST_ADMIN_TOKEN")        // or admin.token_file; never both
	cfg.Admin.ReportToken = os.Getenv("INGEST_REPORT_TOKEN") // or admin.report_token_file; never both
	cfg.ClickHouse.Password = os.Getenv(loader.PasswordEnv)  // never from a file
	return cfg
}
