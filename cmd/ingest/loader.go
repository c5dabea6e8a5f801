package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// runLoader runs `ingest loader`: the consumer group that loads the tenant topics into
// ClickHouse (migrating the schema first), with /metrics and /healthz on --listen.
func runLoader(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("ingest loader", flag.ContinueOnError)
	cfg := loader.DefaultConfig()
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka seed brokers, comma-separated host:port")
	clickhouseAddr := fs.String("clickhouse", "127.0.0.1:9000", "ClickHouse native-protocol addresses, comma-separated host:port")
	listen := fs.String("listen", "127.0.0.1:9465", "address of /metrics and /healthz; empty for none")
	fs.StringVar(&cfg.Database, "database", cfg.Database, "ClickHouse database of the tables (created and migrated at start)")
	fs.StringVar(&cfg.Username, "username", cfg.Username, "ClickHouse user (the password comes from INGEST_CLICKHOUSE_PASSWORD)")
	fs.StringVar(&cfg.Compression, "compression", cfg.Compression, "ClickHouse wire compression: none or lz4")
	fs.BoolVar(&cfg.SkipMigrate, "skip-migrate", cfg.SkipMigrate, "do not apply schema migrations at start")
	fs.StringVar(&cfg.Group, "group", cfg.Group, "Kafka consumer group")
	fs.StringVar(&cfg.TopicRegex, "topic-regex", cfg.TopicRegex, "tenant topics to consume")
	fs.DurationVar(&cfg.TopicRefreshInterval, "topic-refresh-interval", cfg.TopicRefreshInterval, "how soon new tenant topics are consumed")
	fs.StringVar(&cfg.DeadLetterTopic, "dead-letter-topic", cfg.DeadLetterTopic, "topic of the records that cannot be loaded")
	fs.IntVar(&cfg.FlushRows, "flush-rows", cfg.FlushRows, "flush when a table has this many rows")
	fs.IntVar(&cfg.FlushBytes, "flush-bytes", cfg.FlushBytes, "flush when the buffers hold this many record bytes")
	fs.DurationVar(&cfg.FlushInterval, "flush-interval", cfg.FlushInterval, "flush this long after the first buffered record")
	fs.DurationVar(&cfg.InsertTimeout, "insert-timeout", cfg.InsertTimeout, "deadline of one INSERT attempt")
	fs.DurationVar(&cfg.RetryMin, "retry-min", cfg.RetryMin, "shortest backoff between attempts")
	fs.DurationVar(&cfg.RetryMax, "retry-max", cfg.RetryMax, "longest backoff between attempts")
	fs.DurationVar(&cfg.SessionTimeout, "session-timeout", cfg.SessionTimeout, "Kafka group session timeout: how soon a dead loader's partitions move")
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", cfg.HeartbeatInterval, "Kafka group heartbeat interval (at most a third of --session-timeout)")
	fs.DurationVar(&cfg.RebalanceTimeout, "rebalance-timeout", cfg.RebalanceTimeout, "Kafka group rebalance timeout (above --insert-timeout)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "deadline of the last flush at shutdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Brokers = splitList(*brokers)
	cfg.ClickHouseAddr = splitList(*clickhouseAddr)
	cfg.Password = os.Getenv("INGEST_CLICKHOUSE_PASSWORD")

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	l, err := loader.New(cfg, reg, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpDone := make(chan error, 1)
	if *listen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		go func() { httpDone <- serveHTTP(ctx, log, *listen, mux, nil) }()
	} else {
		httpDone <- nil
	}
	runErr := l.Run(ctx)
	cancel()
	return errors.Join(runErr, <-httpDone)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
