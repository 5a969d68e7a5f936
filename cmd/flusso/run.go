package main

// flusso run: capture, indexer and status in one process, over an embedded
// NATS server (data on disk in nats.data_dir) unless nats.url names an
// external one, in which case the very same run joins it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flusso-go/flusso/pkg/cli"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/natsembed"
	"github.com/flusso-go/flusso/pkg/sink/sinks"
	"github.com/flusso-go/flusso/services/capture"
	"github.com/flusso-go/flusso/services/indexer"
	"github.com/flusso-go/flusso/services/status"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

func newRun() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run capture, indexer and status in one process",
		Long: "Run the whole pipeline in one process: the capture follows the database, the\n" +
			"indexer keeps the sinks in step, and the status service serves /status, /metrics\n" +
			"and the dashboard on server.public_address. Without nats.url an embedded NATS\n" +
			"server keeps the pipeline's streams in nats.data_dir, so a restarted run resumes\n" +
			"where it stopped; with nats.url the same run joins an external NATS.",
		Example: "  flusso run -c flusso.toml\n" +
			"  flusso run -c flusso.toml --nats-url nats://nats:4222",
		Args: cobra.NoArgs,
	}
	path := cli.ConfigFlag(cmd.Flags())
	flags := cli.SettingFlags(cmd.Flags())
	logger := cli.LogFlags(cmd.Flags())
	instance := cmd.Flags().String("instance", cli.DefaultInstance("flusso"), "name of this process in events (env FLUSSO_INSTANCE)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if v, ok := os.LookupEnv("FLUSSO_INSTANCE"); ok && !cmd.Flags().Changed("instance") {
			*instance = v
		}
		log, err := logger(cmd.ErrOrStderr())
		if err != nil {
			return usageError("%v", err)
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		cfg, diags := config.Load(*path, config.Options{Flags: flags()})
		if err := diags.Err(); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("config:\n%w", err)}
		}
		for _, d := range diags {
			log.Warn("config", "diagnostic", d.String())
		}
		if err := runAll(ctx, cfg, *instance, cmd.OutOrStdout(), os.LookupEnv, log); err != nil {
			log.Error("flusso run failed", "err", err)
			return &exitError{code: 1}
		}
		return nil
	}
	return cmd
}

// runAll runs the three services until ctx ends or one of them fails,
// which stops the others.
func runAll(ctx context.Context, cfg *config.Config, instance string, out io.Writer, env config.LookupEnv, log *slog.Logger) error {
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

	if cfg.NATS.URL == "" {
		srv, err := natsembed.Start(cfg.NATS.DataDir, cfg.NATS.Listen, log)
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		cfg.NATS.URL = srv.URL()
	}
	nc, err := cli.ConnectNATS(cfg, "flusso run "+instance, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	// The capture publishes asynchronously within its window.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.Capture.PublishWindow+1))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}

	built, err := sinks.Build(cfg, out, env, log)
	if err != nil {
		return err
	}
	defer sinks.Close(built, log)
	c, err := capture.New(ctx, capture.Options{Config: cfg, JetStream: js, Logger: log, Instance: instance, Env: env})
	if err != nil {
		return ignoreCanceled(ctx, err)
	}
	defer c.Close()
	ix, err := indexer.New(ctx, indexer.Options{Config: cfg, JetStream: js, Sinks: built, Logger: log, Instance: instance, Env: env})
	if err != nil {
		return ignoreCanceled(ctx, err)
	}
	defer ix.Close()
	agg, err := status.New(ctx, status.Options{JetStream: js, Config: cfg, Logger: log, Instance: instance})
	if err != nil {
		return ignoreCanceled(ctx, err)
	}
	srv := status.NewServer(agg, status.ServerOptions{
		Config: cfg, JetStream: js, Logger: log, Instance: instance,
		Token: token, Username: username, Password: password,
	})
	log.Info("flusso running", "pipeline", cfg.Pipeline(), "nats", nc.ConnectedUrlRedacted(),
		"status", "http://"+public.Addr().String()+"/", "sinks", len(built))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return named("capture", c.Run(gctx)) })
	g.Go(func() error { return named("indexer", ix.Run(gctx)) })
	g.Go(func() error { return named("status", agg.Run(gctx)) })
	g.Go(func() error { return named("status surfaces", srv.Serve(gctx, public, private)) })
	err = g.Wait()
	if ferr := nc.FlushTimeout(5 * time.Second); ferr != nil && !errors.Is(ferr, nats.ErrConnectionClosed) {
		log.Warn("nats flush on exit", "err", ferr)
	}
	if err != nil {
		return err
	}
	log.Info("flusso stopped")
	return nil
}

func named(service string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", service, err)
	}
	return nil
}

// ignoreCanceled drops the error of a start interrupted by shutdown.
func ignoreCanceled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
