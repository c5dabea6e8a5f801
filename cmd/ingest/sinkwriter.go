package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ingestdev/ingest/sinkwriter"
)

// runSinkWriter runs `ingest sinkwriter`: the write path. It takes batches from normalizers on
// the internal API (HTTP/1.1 and h2c) and answers 200 once Kafka acknowledged every record.
func runSinkWriter(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("ingest sinkwriter", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:4320", "address of the internal API (POST /v1/batches), /healthz, /readyz and /metrics (reachable from normalizers only)")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka seed brokers, host:port, comma-separated")
	shutdownTimeout := fs.Duration("shutdown-timeout", 20*time.Second, "how long batches in progress may take to be acknowledged at shutdown")
	cfg := sinkwriter.DefaultConfig()
	fs.StringVar(&cfg.TopicPattern, "topic-pattern", cfg.TopicPattern, "topic of a tenant; {tenant} is replaced by the tenant id (the loader's topic regex must match)")
	fs.BoolVar(&cfg.DisableTopicCreation, "disable-topic-creation", false, "do not create tenant topics (they are provisioned out of band)")
	partitions := fs.Int("topic-partitions", int(cfg.TopicPartitions), "partitions of the topics the sink writer creates")
	replicas := fs.Int("topic-replication-factor", int(cfg.TopicReplicationFactor), "replication factor of the topics the sink writer creates (production: 3, with --topic-config min.insync.replicas=2)")
	topicConfigs := map[string]string{}
	fs.Func("topic-config", "name=value config of the topics the sink writer creates (repeatable), e.g. min.insync.replicas=2", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q is not name=value", v)
		}
		topicConfigs[k] = val
		return nil
	})
	fs.StringVar(&cfg.Compression, "compression", cfg.Compression, "produce compression: zstd, lz4, snappy or none")
	fs.IntVar(&cfg.CompressionLevel, "compression-level", cfg.CompressionLevel, "compression level; 0: zstd 1 (fastest), the codec's default for the others")
	fs.DurationVar(&cfg.Linger, "linger", cfg.Linger, "how long a partition waits for more records before a produce request is built")
	fs.IntVar(&cfg.Producers, "producers", 0, "Kafka clients batches are spread over (each compresses on one core); 0: GOMAXPROCS, at most 8")
	fs.Int64Var(&cfg.MaxBufferBytes, "max-buffer-bytes", cfg.MaxBufferBytes, "batch bytes held by all batches in progress; beyond it batches get 429")
	fs.Float64Var(&cfg.TenantShare, "tenant-share", cfg.TenantShare, "fraction of --max-buffer-bytes one tenant may hold; beyond it its batches get 429")
	fs.Int64Var(&cfg.MaxBatchBytes, "max-batch-bytes", cfg.MaxBatchBytes, "largest batch (413 beyond)")
	fs.IntVar(&cfg.MaxRecordBytes, "max-record-bytes", cfg.MaxRecordBytes, "largest record (413 beyond); must fit under Kafka's max.message.bytes")
	fs.DurationVar(&cfg.KafkaTimeout, "kafka-timeout", cfg.KafkaTimeout, "deadline for Kafka to acknowledge a batch; past it 503, and Kafka counts as unreachable until it answers again")
	fs.DurationVar(&cfg.RetryAfterFull, "retry-after-full", cfg.RetryAfterFull, "Retry-After of a 429")
	fs.DurationVar(&cfg.RetryAfterUnavailable, "retry-after-unavailable", cfg.RetryAfterUnavailable, "Retry-After of a 503")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Brokers = strings.Split(*brokers, ",")
	cfg.TopicPartitions = int32(*partitions)
	cfg.TopicReplicationFactor = int16(*replicas)
	if len(topicConfigs) > 0 {
		cfg.TopicConfigs = topicConfigs
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := sinkwriter.New(cfg, reg, log)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if err := w.Ready(pctx); err != nil {
		log.Warn("Kafka is not reachable yet; batches get 503 until it is", "brokers", cfg.Brokers, "err", err)
	}
	cancel()

	mux := http.NewServeMux()
	mux.Handle("/", w.Handler())
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	// Stop in reverse order: the HTTP server first (it waits for the batches in progress,
	// which wait for their acks), then the Kafka clients.
	serveErr := serveHTTP(ctx, log, *listen, mux, w.Drain)
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := w.Shutdown(sctx); err != nil && serveErr == nil {
		return err
	}
	return serveErr
}
