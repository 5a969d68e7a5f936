// Command flusso-indexer runs the indexer service alone: it consumes the row
// changes and backfill tasks of an external NATS JetStream, builds documents
// from the source database and writes them to the configured sinks. It is
// the composition root of the service: flags and environment, logging, the
// NATS connection, the sinks and process signals; the indexer itself is
// package indexer.
//
// Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT), 1 on any error,
// 2 on a usage error.
package main

import (
	"context"
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, out, stderr io.Writer) int {
	svc, code := cli.ParseService("flusso-indexer", "indexer", "Builds documents from the change stream in NATS JetStream and writes them to the sinks.", args, stderr, nil)
	if svc == nil {
		return code
	}
	log := svc.Log
	if err := serve(ctx, log, out, svc.Config, svc.Settings, svc.Instance); err != nil {
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
