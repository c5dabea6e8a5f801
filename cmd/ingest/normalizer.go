package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ingestdev/ingest/normalizer"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/client"
)

func runNormalizer(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("ingest normalizer", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:4318", "address of the ingest API, /healthz, /readyz and /metrics (reachable from the edge only)")
	sinkName := fs.String("sink", "log", "where accepted batches go: log (log a summary of each batch; for trying it out) or discard; ignored with --sink-url")
	sinkURL := fs.String("sink-url", "", "base URL of the sink writer (e.g. http://127.0.0.1:4320): batches are posted there and answered once Kafka has them")
	sinkProtocol := fs.String("sink-protocol", "http1", "protocol to the sink writer: http1 (keep-alive) or h2c")
	cfg := normalizer.DefaultConfig()
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest request body as sent")
	fs.Int64Var(&cfg.MaxDecompressedBytes, "max-decompressed-bytes", cfg.MaxDecompressedBytes, "largest gzip body after decompression")
	fs.IntVar(&cfg.MaxEventsPerRequest, "max-events-per-request", cfg.MaxEventsPerRequest, "most events in one request")
	fs.IntVar(&cfg.MaxAttributes, "max-attributes", cfg.MaxAttributes, "most attributes (and resource attributes) per event")
	fs.DurationVar(&cfg.MaxPast, "max-past", cfg.MaxPast, "oldest accepted timestamp, before the time of receipt")
	fs.DurationVar(&cfg.MaxFuture, "max-future", cfg.MaxFuture, "newest accepted timestamp, after the time of receipt")
	fs.Int64Var(&cfg.MaxInflightBytes, "max-inflight-bytes", cfg.MaxInflightBytes, "request bytes held by all requests in progress")
	fs.DurationVar(&cfg.SinkTimeout, "sink-timeout", cfg.SinkTimeout, "deadline for the sink to make a batch durable")
	if err := fs.Parse(args); err != nil {
		return err
	}

	var sink normalizer.Sink
	switch {
	case *sinkURL != "":
		// The client's timeout stays above the normalizer's own sink deadline, which answers 503.
		timeout := max(cfg.SinkTimeout, normalizer.DefaultConfig().SinkTimeout) + 5*time.Second
		c, err := client.New(client.Config{URL: *sinkURL, Protocol: *sinkProtocol, Timeout: timeout}, log)
		if err != nil {
			return err
		}
		defer c.Close()
		sink = c
	case *sinkName == "log":
		sink = &logSink{log: log}
	case *sinkName == "discard":
		sink = discardSink{}
	default:
		return fmt.Errorf("unknown --sink %q: use log or discard", *sinkName)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := normalizer.New(cfg, sink, reg, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return serveHTTP(ctx, log, *listen, mux, srv.Drain)
}

// serveHTTP serves h on addr over HTTP/1.1 and h2c until ctx is done, then calls drain (if
// any) and shuts down gracefully within 20 s.
func serveHTTP(ctx context.Context, log *slog.Logger, addr string, h http.Handler, drain func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %q: %w", addr, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	hs.Protocols = new(http.Protocols) // HTTP/1.1 and h2c (prior knowledge): internal traffic has no TLS
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if drain != nil {
		drain()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("cannot shut down cleanly: %w", err)
	}
	log.Info("stopped")
	return nil
}

// logSink logs a one-line summary of every batch. It makes nothing durable: it is for trying
// the normalizer alone; the pipeline uses the sink writer.
type logSink struct{ log *slog.Logger }

func (s *logSink) Write(_ context.Context, b record.Batch) error {
	s.log.Info("batch", "tenant", b.Tenant, "records", b.Count, "bytes", len(b.Data))
	return nil
}

// discardSink counts and drops batches (benchmarks of the normalizer alone).
type discardSink struct{}

func (discardSink) Write(context.Context, record.Batch) error {
	return nil
}
