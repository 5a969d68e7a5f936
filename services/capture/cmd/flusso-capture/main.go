// Command flusso-capture runs the capture service alone: it reads the
// source's logical replication slot and publishes every committed row change,
// and the backfill tasks, to an external NATS JetStream. It is the
// composition root of the service: flags and environment, logging, the NATS
// connection and process signals; the capture itself is package capture.
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
	"github.com/flusso-go/flusso/services/capture"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	svc, code := cli.ParseService("flusso-capture", "capture", "Streams the source's row changes into NATS JetStream.", args, stderr, nil)
	if svc == nil {
		return code
	}
	log := svc.Log
	if err := serve(ctx, log, svc.Config, svc.Settings, svc.Instance); err != nil {
		log.Error("flusso-capture failed", "err", err)
		return 1
	}
	return 0
}

// serve loads the config, connects to NATS and captures until ctx ends.
func serve(ctx context.Context, log *slog.Logger, path string, flags map[string]string, instance string) error {
	cfg, diags := config.Load(path, config.Options{Flags: flags})
	if err := diags.Err(); err != nil {
		return fmt.Errorf("config:\n%w", err)
	}
	for _, d := range diags {
		log.Warn("config", "diagnostic", d.String())
	}
	nc, err := cli.ConnectNATS(cfg, "flusso-capture "+instance, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.Capture.PublishWindow+1))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	c, err := capture.New(ctx, capture.Options{Config: cfg, JetStream: js, Logger: log, Instance: instance})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer c.Close()
	log.Info("capture starting", "instance", instance, "slot", cfg.Capture.Slot, "pipeline", cfg.Pipeline())
	if err := c.Run(ctx); err != nil {
		return err
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		log.Warn("nats flush on exit", "err", err)
	}
	log.Info("capture stopped")
	return nil
}
