// Command flusso-indexer runs the indexer service alone: it consumes the row
// changes and backfill tasks of an external NATS JetStream, builds documents
// from the source database and writes them to the configured sinks. It is
// the composition root of the service: flags and environment, logging, the
// NATS connection, the sinks and process signals; the indexer itself is
// package indexer.
//
// Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT), 1 on any error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flusso-go/flusso/pkg/cli"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/sink/sinks"
	"github.com/flusso-go/flusso/services/indexer"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, out, stderr io.Writer) int {
	fs := pflag.NewFlagSet("flusso-indexer", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := cli.ConfigFlag(fs)
	settings := cli.SettingFlags(fs)
	logger := cli.LogFlags(fs)
	instance := fs.String("instance", cli.DefaultInstance("indexer"), "name of this indexer in events (env FLUSSO_INSTANCE)")
	if v, ok := os.LookupEnv("FLUSSO_INSTANCE"); ok {
		*instance = v
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: flusso-indexer [flags]\n\nBuilds documents from the change stream in NATS JetStream and writes them to the sinks.\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "flusso-indexer:", err)
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "flusso-indexer: unexpected arguments %q\n", fs.Args())
		return 1
	}
	log, err := logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "flusso-indexer:", err)
		return 1
	}
	if err := serve(ctx, log, out, *configPath, settings(), *instance); err != nil {
		log.Error("flusso-indexer failed", "err", err)
		return 1
	}
	return 0
}

// serve loads the config, connects to NATS and indexes until ctx ends.
func serve(ctx context.Context, log *slog.Logger, out io.Writer, path string, flags map[string]string, instance string) error {
	cfg, diags := config.Load(path, config.Options{Flags: flags})
	if err := diags.Err(); err != nil {
		return fmt.Errorf("config:\n%w", err)
	}
	for _, d := range diags {
		log.Warn("config", "diagnostic", d.String())
	}
	built, err := sinks.Build(cfg, out, os.LookupEnv, log)
	if err != nil {
		return err
	}
	defer sinks.Close(built, log)
	nc, err := cli.ConnectNATS(cfg, "flusso-indexer "+instance, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	ix, err := indexer.New(ctx, indexer.Options{Config: cfg, JetStream: js, Sinks: built, Logger: log, Instance: instance})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer ix.Close()
	log.Info("indexer starting", "instance", instance, "pipeline", cfg.Pipeline(), "sinks", len(built))
	if err := ix.Run(ctx); err != nil {
		return err
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		log.Warn("nats flush on exit", "err", err)
	}
	log.Info("indexer stopped")
	return nil
}
