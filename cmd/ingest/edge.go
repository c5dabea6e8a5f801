package main

import (
	"flag"

	"github.com/ingestdev/ingest/edge/goedge"
	"github.com/ingestdev/ingest/internal/service"
)

// edgeFlags binds the flags of `ingest edge`: the Go edge (HTTPS, the edge filter, routing
// and proxying from the control plane's xDS), for laptops and CI where no Envoy runs.
func edgeFlags(fs *flag.FlagSet, cfg *goedge.Config) {
	fs.StringVar(&cfg.ListenAddress, "listen", cfg.ListenAddress, "address of the client-facing HTTPS listener (HTTP/1.1 and HTTP/2, TLS 1.2+)")
	fs.StringVar(&cfg.AdminListenAddress, "admin-listen", cfg.AdminListenAddress, "address of /healthz, /readyz and /metrics")
	fs.StringVar(&cfg.XDSAddress, "xds", cfg.XDSAddress, "address of the control plane's xDS server (ingest controlplane --xds-listen)")
	fs.StringVar(&cfg.XDSCAFile, "xds-ca", cfg.XDSCAFile, "PEM CA bundle the control plane's xDS server certificate must chain to (mutual TLS)")
	fs.StringVar(&cfg.XDSCertFile, "xds-cert", cfg.XDSCertFile, "PEM client certificate the edge presents to the control plane (read at every reconnect)")
	fs.StringVar(&cfg.XDSKeyFile, "xds-key", cfg.XDSKeyFile, "PEM private key of --xds-cert")
	fs.StringVar(&cfg.XDSServerName, "xds-server-name", cfg.XDSServerName, "name the xDS server's certificate must carry (empty: the host of --xds)")
	fs.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "xDS node id (the control plane keeps NACK state per node id)")
	fs.StringVar(&cfg.NodeCluster, "node-cluster", cfg.NodeCluster, "xDS node cluster")
	fs.StringVar(&cfg.ListenerName, "listener-name", cfg.ListenerName, "LDS listener to serve (empty: the only one)")
	fs.StringVar(&cfg.CertFile, "tls-cert", "", "PEM certificate chain to serve instead of the control plane's SDS secret (with --tls-key)")
	fs.StringVar(&cfg.KeyFile, "tls-key", "", "PEM private key for --tls-cert")
	fs.Int64Var(&cfg.DefaultBufferLimitBytes, "default-buffer-limit-bytes", cfg.DefaultBufferLimitBytes, "largest request body when the listener sets no per_connection_buffer_limit_bytes (Envoy's 1 MiB)")
	fs.DurationVar(&cfg.DefaultRouteTimeout, "default-route-timeout", cfg.DefaultRouteTimeout, "upstream timeout of a route that sets none (Envoy's 15s)")
	fs.DurationVar(&cfg.DefaultConnectTimeout, "default-connect-timeout", cfg.DefaultConnectTimeout, "connect timeout of a cluster that sets none (Envoy's 5s)")
	fs.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "client connections held open at once; one above it is closed before its TLS handshake")
	fs.DurationVar(&cfg.BodyIdleTimeout, "body-idle-timeout", cfg.BodyIdleTimeout, "a request body (HTTP/2: stream) that sends nothing this long gets 408 and is dropped")
	fs.IntVar(&cfg.MaxIdleConnsPerHost, "max-idle-conns-per-host", cfg.MaxIdleConnsPerHost, "idle keep-alive connections kept per upstream endpoint")
	fs.IntVar(&cfg.MaxMirrorsInFlight, "max-mirrors-in-flight", cfg.MaxMirrorsInFlight, "mirrored requests in progress before more are dropped (and counted)")
	fs.Int64Var(&cfg.MaxMirrorBytesInFlight, "max-mirror-bytes-in-flight", cfg.MaxMirrorBytesInFlight, "body bytes of mirrored requests in progress before more are dropped")
	fs.Float64Var(&cfg.TenantShare, "tenant-share", cfg.TenantShare, "fraction of the in-flight bound (limits.max_in_flight_bytes) one tenant's requests may hold together, in (0, 1]; above it 503 err-ingest-edge-tenant-share-full")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long requests in progress may finish at shutdown")
}

// newEdge is goedge.NewService without options.
func newEdge(cfg goedge.Config, set service.Settings) (*goedge.Edge, error) {
	return goedge.NewService(cfg, set)
}
