// Command ingest runs one service of the ingest pipeline per subcommand:
//
//	ingest normalizer     validate and convert telemetry, hand batches to the sink
//	ingest controlplane   tenant registry, admin API and xDS for the edge
//	ingest sinkwriter     write path: batches to Kafka, answered once Kafka acknowledged them
//	ingest kafka          embedded Kafka (kfake) with a data directory, for laptops and CI
//	ingest loader         load the tenant topics into ClickHouse, exactly once
//	ingest migrate        apply the ClickHouse schema migrations and exit
//	ingest edge           the Go edge: TLS, the edge filter, routes and proxy, driven over xDS
//	ingest dev            every service in one process over loopback, for a laptop (make run)
//
// Each subcommand parses its own flags (ingest <subcommand> -h) and --config file.yaml, a YAML
// file of its Config (snake_case keys; unknown keys and bad values are errors naming the key
// and the file); a flag given overrides the file (package internal/config). Each service
// subcommand then builds its service with its package's NewService, which binds every
// listener, and runs it (package internal/service): its endpoints with /healthz, /readyz and
// /metrics, until SIGINT/SIGTERM, then a drain within its shutdown timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: it parses args and runs until ctx is done.
type command struct {
	summary string
	run     func(ctx context.Context, log *slog.Logger, args []string) error
}

// commands lists the subcommands. Each lives in its own file of this package.
var commands = map[string]command{
	"normalizer":   {"validate and convert telemetry, hand batches to the sink", runNormalizer},
	"controlplane": {"tenant registry, admin API and xDS for the edge", runControlPlane},
	"sinkwriter":   {"write path: take normalized batches, answer once Kafka acknowledged them", runSinkWriter},
	"kafka":        {"embedded Kafka (kfake) with a data directory, for laptops and CI", runKafka},
	"loader":       {"load the tenant topics into ClickHouse, exactly once", runLoader},
	"migrate":      {"apply the ClickHouse schema migrations and exit", runMigrate},
	"edge":         {"the Go edge: HTTPS, the edge filter, routes and proxying from the control plane's xDS", runEdge},
	"dev":          {"every service in one process, wired over loopback, with a demo tenant (make run)", runDev},
	"loadgen":      {"drive the pipeline over HTTPS with N tenants and report answers and latencies", runLoadgen},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "ingest: unknown subcommand %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("service", os.Args[1])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, log, os.Args[2:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		log.Error("exiting", "err", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ingest <subcommand> [flags]\n\nsubcommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'ingest <subcommand> -h' for its flags.")
}
