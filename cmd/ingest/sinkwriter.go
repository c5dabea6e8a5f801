package main

import (
	"flag"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/sinkwriter"
)

// sinkWriterFlags binds the flags of `ingest sinkwriter`: the write path. It takes batches
// from normalizers on the internal API (HTTP/1.1 and h2c) and answers 200 once Kafka
// acknowledged every record.
func sinkWriterFlags(fs *flag.FlagSet, cfg *sinkwriter.ServiceConfig) {
	w := &cfg.Writer
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address of the internal API (POST /v1/batches), /healthz, /readyz and /metrics (reachable from normalizers only)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long batches in progress may take to be acknowledged at shutdown")
	fs.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "connections held open at once; one above it is closed at once")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", cfg.ReadHeaderTimeout, "time to read a request's headers; past it the connection is closed")
	fs.DurationVar(&cfg.BodyIdleTimeout, "body-idle-timeout", cfg.BodyIdleTimeout, "a batch body that sends nothing this long gets 408 and its bytes are released")
	config.ListVar(fs, &w.Brokers, "brokers", "Kafka seed brokers, host:port, comma-separated")
	fs.StringVar(&w.TopicPattern, "topic-pattern", w.TopicPattern, "topic of a tenant; {tenant} is replaced by the tenant id (the loader's topic regex must match)")
	fs.BoolVar(&w.DisableTopicCreation, "disable-topic-creation", w.DisableTopicCreation, "do not create tenant topics (they are provisioned out of band)")
	config.IntVar(fs, &w.TopicPartitions, "topic-partitions", "partitions of the topics the sink writer creates")
	config.IntVar(fs, &w.TopicReplicationFactor, "topic-replication-factor", "replication factor of the topics the sink writer creates; 0: auto, 3 (with min.insync.replicas=2) on a cluster of 3 or more brokers, else the broker count with a warning")
	config.MapVar(fs, &w.TopicConfigs, "topic-config", "name=value config of the topics the sink writer creates (repeatable), e.g. min.insync.replicas=2")
	fs.StringVar(&w.Compression, "compression", w.Compression, "produce compression: zstd, lz4, snappy or none")
	fs.IntVar(&w.CompressionLevel, "compression-level", w.CompressionLevel, "compression level; 0: zstd 1 (fastest), the codec's default for the others")
	fs.DurationVar(&w.Linger, "linger", w.Linger, "how long a partition waits for more records before a produce request is built")
	fs.IntVar(&w.Producers, "producers", w.Producers, "Kafka clients batches are spread over (each compresses on one core); 0: GOMAXPROCS, at most 8")
	fs.Int64Var(&w.MaxBufferBytes, "max-buffer-bytes", w.MaxBufferBytes, "batch bytes held by all batches in progress; beyond it batches get 429")
	fs.Float64Var(&w.TenantShare, "tenant-share", w.TenantShare, "fraction of --max-buffer-bytes one tenant may hold; beyond it its batches get 429")
	fs.Int64Var(&w.MaxBatchBytes, "max-batch-bytes", w.MaxBatchBytes, "largest batch (413 beyond)")
	fs.IntVar(&w.MaxRecordBytes, "max-record-bytes", w.MaxRecordBytes, "largest record (413 beyond); must fit under Kafka's max.message.bytes")
	fs.DurationVar(&w.KafkaTimeout, "kafka-timeout", w.KafkaTimeout, "deadline for Kafka to acknowledge a batch; past it 503, and Kafka counts as unreachable until it answers again")
	fs.DurationVar(&w.RetryAfterFull, "retry-after-full", w.RetryAfterFull, "Retry-After of a 429")
	fs.DurationVar(&w.RetryAfterUnavailable, "retry-after-unavailable", w.RetryAfterUnavailable, "Retry-After of a 503")
	hopAuthFlags(fs, &cfg.HopAuth)
	fs.StringVar(&cfg.Tenants.URL, "tenants-url", cfg.Tenants.URL, "control plane admin URL whose GET /v1/tenants lists the tenants batches may be of (others get 403); required unless --allow-any-tenant")
	fs.StringVar(&cfg.Tenants.TokenFile, "tenants-token-file", cfg.Tenants.TokenFile, "file holding the control plane's report token (or admin token) for --tenants-url")
	fs.BoolVar(&cfg.Tenants.AllowAnyTenant, "allow-any-tenant", cfg.Tenants.AllowAnyTenant, "INSECURE: create topics for any tenant id, known to the control plane or not")
}
