package main

import (
	"context"
	"flag"
	"log/slog"
	"strings"

	"github.com/ingestdev/ingest/internal/embedkafka"
)

// runKafka runs `ingest kafka`: an embedded Kafka (franz-go's kfake) keeping its log in a data
// directory, for laptops and CI. Durability: without --sync-writes an acknowledged batch has
// been written to the OS page cache, so it survives kill -9 of this process but not a machine
// crash; with --sync-writes it is fsynced before the ack. See package embedkafka.
func runKafka(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("ingest kafka", flag.ContinueOnError)
	var cfg embedkafka.Config
	fs.StringVar(&cfg.DataDir, "data-dir", "./.data/kafka", "directory of the log and state; reloaded at start, locked while running")
	listen := fs.String("listen", "127.0.0.1:9092", "broker addresses, host:port, comma-separated, one broker each; the host is advertised to clients")
	fs.BoolVar(&cfg.SyncWrites, "sync-writes", false, "fsync every produced batch before acknowledging it (survives a machine crash; slower)")
	fs.IntVar(&cfg.DefaultPartitions, "default-partitions", 6, "partitions of topics created without a count")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Listen = strings.Split(*listen, ",")
	k, err := embedkafka.Start(cfg, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return k.Close(context.Background())
}
