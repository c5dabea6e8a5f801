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

	"github.com/ingestdev/ingest/controlplane"
	"github.com/ingestdev/ingest/edge/goedge"
	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/devstack"
	"github.com/ingestdev/ingest/internal/embedkafka"
	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/normalizer"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// command is one subcommand: it defines its flags on fs (named after it, empty), parses args
// with it and runs until ctx is done.
type command struct {
	summary string
	run     func(ctx context.Context, log *slog.Logger, fs *flag.FlagSet, args []string) error
}

// commands lists the subcommands. The flags of each are bound in its own file of this package.
var commands = map[string]command{
	"normalizer":   serviceCommand("validate and convert telemetry, hand batches to the sink", normalizer.DefaultServiceConfig, normalizerFlags, normalizer.NewService),
	"controlplane": serviceCommand("tenant registry, admin API and xDS for the edge", controlPlaneDefaults, controlPlaneFlags, controlplane.NewService),
	"sinkwriter":   serviceCommand("write path: take normalized batches, answer once Kafka acknowledged them", sinkwriter.DefaultServiceConfig, sinkWriterFlags, sinkwriter.NewService),
	"kafka":        serviceCommand("embedded Kafka (kfake) with a data directory, for laptops and CI", embedkafka.DefaultServiceConfig, kafkaFlags, embedkafka.NewService),
	"loader":       serviceCommand("load the tenant topics into ClickHouse, exactly once", loaderDefaults, loaderFlags, loader.NewService),
	"migrate":      configCommand("apply the ClickHouse schema migrations and exit", loaderDefaults, migrateFlags, migrate),
	"edge":         serviceCommand("the Go edge: HTTPS, the edge filter, routes and proxying from the control plane's xDS", goedge.DefaultConfig, edgeFlags, newEdge),
	"dev":          configCommand("every service in one process, wired over loopback, with a demo tenant (make run)", devstack.DefaultConfig, devFlags, runDev),
	"loadgen":      {"drive the pipeline over HTTPS with N tenants and report answers and latencies", runLoadgen},
	"record":       {"record decode: normalized records as JSON lines, from files, stdin (kcat -C -f '%s\\n') or a topic's offsets", runRecord},
}

// configCommand returns the command of a subcommand that reads a Config: its defaults, then
// the --config file and the flags bind binds (config.Parse, which validates it), then run.
func configCommand[C any](summary string, defaults func() C, bind func(*flag.FlagSet, *C), run func(context.Context, *slog.Logger, C) error) command {
	return command{summary: summary, run: func(ctx context.Context, log *slog.Logger, fs *flag.FlagSet, args []string) error {
		cfg := defaults()
		bind(fs, &cfg)
		if err := config.Parse(fs, args, &cfg); err != nil {
			return err
		}
		return run(ctx, log, cfg)
	}}
}

// serviceCommand returns the command of a service: a configCommand that builds the service
// with its package's NewService (which binds every listener) and the settings of a process
// that runs one service, then runs it until ctx is done.
func serviceCommand[C any, S service.Service](summary string, defaults func() C, bind func(*flag.FlagSet, *C), build func(C, service.Settings) (S, error)) command {
	return configCommand(summary, defaults, bind, func(ctx context.Context, log *slog.Logger, cfg C) error {
		s, err := build(cfg, service.ProcessSettings(log))
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}

// runCommand runs the subcommand name with args until ctx is done.
func runCommand(ctx context.Context, log *slog.Logger, name string, args []string) error {
	return commands[name].run(ctx, log, flag.NewFlagSet("ingest "+name, flag.ContinueOnError), args)
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	if _, ok := commands[os.Args[1]]; !ok {
		fmt.Fprintf(os.Stderr, "ingest: unknown subcommand %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("service", os.Args[1])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runCommand(ctx, log, os.Args[1], os.Args[2:]); err != nil && !errors.Is(err, flag.ErrHelp) {
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
