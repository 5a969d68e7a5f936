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
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/opensearch"
	"github.com/flusso-go/flusso/pkg/sink/stdout"
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

// buildSinks makes the configured sinks. Documents go to stdout (out) for a
// stdout sink; an opensearch sink resolves its secrets from the process
// environment and logs through log.
func buildSinks(cfg *config.Config, out io.Writer, log *slog.Logger) ([]sink.Sink, error) {
	var sinks []sink.Sink
	for _, sc := range cfg.Sinks {
		switch sc.Type {
		case config.SinkStdout:
			pretty := sc.Stdout != nil && sc.Stdout.Pretty
			sinks = append(sinks, stdout.New(sc.Name, out, pretty))
		case config.SinkOpenSearch:
			s, err := opensearch.New(cfg, sc, os.LookupEnv, log)
			if err != nil {
				return nil, err
			}
			sinks = append(sinks, s)
		default:
			return nil, fmt.Errorf("sink %s: unknown type %q", sc.Name, sc.Type)
		}
	}
	if len(sinks) == 0 {
		return nil, errors.New("no sink configured")
	}
	return sinks, nil
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
	sinks, err := buildSinks(cfg, out, log)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range sinks {
			if err := s.Close(); err != nil {
				log.Warn("close sink", "sink", s.Name(), "err", err)
			}
		}
	}()
	nc, err := cli.ConnectNATS(cfg, "flusso-indexer "+instance, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	ix, err := indexer.New(ctx, indexer.Options{Config: cfg, JetStream: js, Sinks: sinks, Logger: log, Instance: instance})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer ix.Close()
	log.Info("indexer starting", "instance", instance, "pipeline", cfg.Pipeline(), "sinks", len(sinks))
	if err := ix.Run(ctx); err != nil {
		return err
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		log.Warn("nats flush on exit", "err", err)
	}
	log.Info("indexer stopped")
	return nil
}
