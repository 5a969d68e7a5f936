// Command flusso-status runs the status service alone: it folds the events
// of an external NATS JetStream into one status and serves it on the public
// surface (/healthz, /readyz, /status, /status/stream, /metrics, the
// dashboard) and the authenticated private one (/indexes, /reindex). It is
// the composition root of the service: flags and environment, logging, the
// NATS connection, the listeners and process signals; the aggregation and
// the surfaces are package status.
//
// Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT), 1 on any error,
// 2 on a usage error.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/flusso-go/flusso/pkg/cli"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/services/status"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, os.LookupEnv))
}

func run(ctx context.Context, args []string, stderr io.Writer, env config.LookupEnv) int {
	svc, code := cli.ParseService("flusso-status", "status", "Folds the pipeline's events from NATS JetStream into one status and serves it over HTTP.", args, stderr, env)
	if svc == nil {
		return code
	}
	log := svc.Log
	if err := serve(ctx, log, svc.Config, svc.Settings, svc.Instance, env); err != nil {
		log.Error("flusso-status failed", "err", err)
		return 1
	}
	return 0
}

// serve loads the config, connects to NATS, binds both surfaces and runs
// until ctx ends.
func serve(ctx context.Context, log *slog.Logger, path string, flags map[string]string, instance string, env config.LookupEnv) error {
	cfg, diags := config.Load(path, config.Options{Flags: flags, Env: env})
	if err := diags.Err(); err != nil {
		return fmt.Errorf("config:\n%w", err)
	}
	for _, d := range diags {
		log.Warn("config", "diagnostic", d.String())
	}
	token, username, password, err := status.Credentials(cfg, env)
	if err != nil {
		return err
	}
	// Bind first: a taken address is a startup error, not a late one.
	public, err := net.Listen("tcp", cfg.Server.PublicAddress)
	if err != nil {
		return fmt.Errorf("public surface (server.public_address): %w", err)
	}
	defer public.Close()
	private, err := net.Listen("tcp", cfg.Server.PrivateAddress)
	if err != nil {
		return fmt.Errorf("private surface (server.private_address): %w", err)
	}
	defer private.Close()

	nc, err := cli.ConnectNATS(cfg, "flusso-status "+instance, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	agg, err := status.New(ctx, status.Options{JetStream: js, Config: cfg, Logger: log, Instance: instance})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	srv := status.NewServer(agg, status.ServerOptions{
		Config: cfg, JetStream: js, Logger: log, Instance: instance,
		Token: token, Username: username, Password: password,
	})
	log.Info("status starting", "instance", instance, "pipeline", cfg.Pipeline())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return agg.Run(gctx) })
	g.Go(func() error { return srv.Serve(gctx, public, private) })
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("status stopped")
	return nil
}
