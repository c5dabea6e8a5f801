package main

import (
	"flag"

	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/normalizer"
)

// normalizerFlags binds the flags of `ingest normalizer`: the ingest API behind the edge, its
// batches posted to the sink writer (or, chosen explicitly, logged or discarded).
func normalizerFlags(fs *flag.FlagSet, cfg *normalizer.ServiceConfig) {
	n := &cfg.Normalizer
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address of the ingest API, /healthz, /readyz and /metrics (reachable from the edge only)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long requests in progress may finish at shutdown")
	fs.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "connections held open at once; one above it is closed at once")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", cfg.ReadHeaderTimeout, "time to read a request's headers; past it the connection is closed")
	fs.DurationVar(&cfg.BodyIdleTimeout, "body-idle-timeout", cfg.BodyIdleTimeout, "a request body that sends nothing this long gets 408 and its bytes are released")
	fs.StringVar(&cfg.Sink, "sink", cfg.Sink, "where accepted batches go: sinkwriter (needs --sink-url), log (log a summary of each batch; for trying it out) or discard")
	fs.StringVar(&cfg.SinkWriter.URL, "sink-url", "", "base URL of the sink writer (e.g. http://127.0.0.1:4320): batches are posted there and answered once Kafka has them")
	fs.StringVar(&cfg.SinkWriter.Protocol, "sink-protocol", "http1", "protocol to the sink writer: http1 (keep-alive) or h2c")
	fs.Int64Var(&n.MaxBodyBytes, "max-body-bytes", n.MaxBodyBytes, "largest request body as sent")
	fs.Int64Var(&n.MaxDecompressedBytes, "max-decompressed-bytes", n.MaxDecompressedBytes, "largest gzip body after decompression")
	fs.IntVar(&n.MaxEventsPerRequest, "max-events-per-request", n.MaxEventsPerRequest, "most events in one request")
	fs.IntVar(&n.MaxAttributes, "max-attributes", n.MaxAttributes, "most attributes (and resource attributes) per event")
	fs.DurationVar(&n.MaxPast, "max-past", n.MaxPast, "oldest accepted timestamp, before the time of receipt")
	fs.DurationVar(&n.MaxFuture, "max-future", n.MaxFuture, "newest accepted timestamp, after the time of receipt")
	fs.Int64Var(&n.MaxInflightBytes, "max-inflight-bytes", n.MaxInflightBytes, "request bytes held by all requests in progress")
	fs.Float64Var(&n.TenantShare, "tenant-share", n.TenantShare, "fraction of --max-inflight-bytes one tenant's requests may hold together, in (0, 1]; above it 429 err-ingest-normalizer-tenant-share-full")
	fs.DurationVar(&n.SinkTimeout, "sink-timeout", n.SinkTimeout, "deadline for the sink to make a batch durable")
	hopAuthFlags(fs, &cfg.HopAuth)
}

// hopAuthFlags binds the flags of the internal hop authentication (hop_auth), shared by the
// normalizer and the sink writer.
func hopAuthFlags(fs *flag.FlagSet, c *hopauth.Config) {
	fs.StringVar(&c.KeyFile, "hop-key-file", c.KeyFile, "file of the keys that authenticate internal hops (one per line, hex or base64, ≥ 32 bytes; the first signs); required unless --insecure-internal-hops")
	fs.BoolVar(&c.InsecureInternalHops, "insecure-internal-hops", c.InsecureInternalHops, "INSECURE: accept internal requests without a hop signature (anyone reaching the port may claim any tenant)")
}
