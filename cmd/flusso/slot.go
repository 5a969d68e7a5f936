package main

// flusso slot drop: retire a deployment's replication slot, so the database
// stops keeping WAL for it.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flusso-go/flusso/pkg/cli"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
)

func newSlot() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "slot",
		Short: "Manage the replication slot of the deployment",
	}
	cmd.AddCommand(newSlotDrop())
	return cmd
}

func newSlotDrop() *cobra.Command {
	var force, publication bool
	cmd := &cobra.Command{
		Use:   "drop",
		Short: "Drop the replication slot (and optionally the publication) to retire a deployment",
		Long: "Drop the logical replication slot of flusso.toml (capture.slot), so that\n" +
			"PostgreSQL stops retaining WAL for it. Stop every capture first: a slot in use\n" +
			"is refused unless --force, which ends the capture's connection. A capture started\n" +
			"later finds its slot gone and seeds every index again.",
		Args: cobra.NoArgs,
	}
	path := cli.ConfigFlag(cmd.Flags())
	flags := cli.SettingFlags(cmd.Flags())
	cmd.Flags().BoolVar(&force, "force", false, "end the connection of a capture using the slot, then drop it")
	cmd.Flags().BoolVar(&publication, "publication", false, "also drop the publication (capture.publication)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, diags := config.Load(*path, config.Options{Flags: flags()})
		if err := diags.Err(); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("config:\n%w", err)}
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
		defer cancel()
		msg, err := dropSlot(ctx, cfg, force, publication)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		fmt.Fprintln(cmd.OutOrStdout(), msg)
		return nil
	}
	return cmd
}

// dropSlot drops the configured slot and, with publication, the
// publication, and says what it did.
func dropSlot(ctx context.Context, cfg *config.Config, force, publication bool) (string, error) {
	url, err := cfg.Source.Connection.Resolve(nil)
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", cfg.Source.Connection, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	slot := cfg.Capture.Slot
	var (
		active   bool
		pid      *int32
		retained *int64
	)
	err = conn.QueryRow(ctx, `SELECT active, active_pid, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint
		FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&active, &pid, &retained)
	msg := ""
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		msg = fmt.Sprintf("no replication slot %s: nothing to drop", slot)
	case err != nil:
		return "", fmt.Errorf("read slot %s: %w", slot, err)
	default:
		if active {
			if !force || pid == nil {
				return "", fmt.Errorf("slot %s is in use by the backend of pid %s: stop the capture (every replica) first, or pass --force", slot, pidText(pid))
			}
			if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, *pid); err != nil {
				return "", fmt.Errorf("end the capture's connection (pid %d): %w", *pid, err)
			}
			// The walsender lets go of the slot as it exits.
			deadline := time.Now().Add(30 * time.Second)
			for {
				var still bool
				if err := conn.QueryRow(ctx, `SELECT active FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&still); err != nil || !still {
					break
				}
				if time.Now().After(deadline) {
					return "", fmt.Errorf("slot %s is still in use 30s after ending pid %d", slot, *pid)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, slot); err != nil {
			return "", fmt.Errorf("drop slot %s: %w", slot, err)
		}
		msg = fmt.Sprintf("dropped replication slot %s", slot)
		if retained != nil {
			msg += fmt.Sprintf(" (it retained %d bytes of WAL)", *retained)
		}
	}
	if publication {
		pub := cfg.Capture.Publication
		if _, err := conn.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pgx.Identifier{pub}.Sanitize()); err != nil {
			return msg, fmt.Errorf("drop publication %s: %w", pub, err)
		}
		msg += fmt.Sprintf("; dropped publication %s", pub)
	}
	return msg, nil
}

func pidText(pid *int32) string {
	if pid == nil {
		return "?"
	}
	return fmt.Sprint(*pid)
}
