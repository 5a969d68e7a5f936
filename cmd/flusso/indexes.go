package main

// flusso indexes and flusso reindex: the private surface of a running
// status service, with the credentials the service itself is given.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/flusso-go/flusso/pkg/cli"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/spf13/cobra"
)

func newIndexes() *cobra.Command {
	var rawURL, format string
	cmd := &cobra.Command{
		Use:   "indexes",
		Short: "List the indexes of a running pipeline and their state",
		Long: "List each index of a running pipeline with its state (pending, backfilling or\n" +
			"seeded), from the status service's private surface (GET /indexes). It sends\n" +
			"the credentials the service is configured with: status.token, or\n" +
			"status.username and status.password, from flusso.toml, their flags or their\n" +
			"FLUSSO_STATUS_* variables.",
		Example: "  flusso indexes\n" +
			"  FLUSSO_STATUS_TOKEN=... flusso indexes --private-url http://10.0.0.5:9465 --format json",
		Args: cobra.NoArgs,
	}
	path := cli.ConfigFlag(cmd.Flags())
	privateURLFlag(cmd, &rawURL)
	cmd.Flags().StringVar(&format, "format", "human", "output format: human (name  state lines) or json (an object of states by index)")
	flags := cli.SettingFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if format != "human" && format != "json" {
			return usageError("--format must be human or json, not %q", format)
		}
		cfg, err := loadConfig(*path, flags())
		if err != nil {
			return err
		}
		base, err := privateURL(cmd, rawURL, cfg)
		if err != nil {
			return err
		}
		creds, err := resolveCredentials(cfg)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
		defer cancel()
		states, err := newClient("", base, creds).Indexes(ctx)
		if err != nil {
			return &exitError{code: 1, err: privateError(base, creds, err)}
		}
		out := cmd.OutOrStdout()
		if format == "json" {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(states) // keys sorted
		}
		if len(states) == 0 {
			fmt.Fprintln(cmd.ErrOrStderr(), "flusso: the pipeline has no enabled index")
			return nil
		}
		names := make([]string, 0, len(states))
		width := 0
		for name := range states {
			names = append(names, name)
			width = max(width, len(name))
		}
		slices.Sort(names)
		for _, name := range names {
			fmt.Fprintf(out, "%-*s  %s\n", width, name, states[name])
		}
		return nil
	}
	return cmd
}

func newReindex() *cobra.Command {
	var (
		rawPrivate, rawPublic string
		wait                  bool
		timeout               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "reindex <index>",
		Short: "Rebuild an index from the database into a new generation, swapped in once seeded",
		Long: "Ask the running pipeline to rebuild an index (POST /reindex on the status\n" +
			"service's private surface): the capture seeds a new generation beside the\n" +
			"serving one, live changes reach both, and the alias moves to the new one once\n" +
			"it is seeded, so readers never see a gap. A reindex is refused while the index\n" +
			"is being seeded. --wait then follows the public surface until the new\n" +
			"generation is seeded, showing its progress.",
		Example: "  flusso reindex listings\n" +
			"  flusso reindex listings --wait --timeout 30m",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("reindex takes one index name, e.g. flusso reindex listings (flusso indexes lists them)")
			}
			if strings.TrimSpace(args[0]) == "" {
				return usageError("the index name is empty")
			}
			return nil
		},
	}
	path := cli.ConfigFlag(cmd.Flags())
	privateURLFlag(cmd, &rawPrivate)
	publicURLFlag(cmd, &rawPublic)
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the status until the new generation is seeded")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with --wait, give up waiting after this long (0: no limit); the reindex goes on")
	flags := cli.SettingFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case timeout < 0:
			return usageError("--timeout must not be negative, not %s", timeout)
		case !wait && cmd.Flags().Changed("timeout"):
			return usageError("--timeout goes with --wait")
		case !wait && cmd.Flags().Changed("url"):
			return usageError("--url (the public surface) goes with --wait")
		}
		cfg, err := loadConfig(*path, flags())
		if err != nil {
			return err
		}
		private, err := privateURL(cmd, rawPrivate, cfg)
		if err != nil {
			return err
		}
		creds, err := resolveCredentials(cfg)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		// The server's own normalization, to find the index in the status.
		index := strings.ToLower(strings.TrimSpace(args[0]))
		var public string
		baseline := 0
		if wait {
			if public, err = publicURL(cmd, rawPublic, *path, flags); err != nil {
				return err
			}
			// The generation seeded or seeding now: --wait ends on a later
			// one. Read before asking, so that a quick one is not missed.
			sctx, cancel := context.WithTimeout(ctx, requestTimeout)
			st, err := newClient(public, "", nil).Status(sctx)
			cancel()
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("--wait follows the public surface: %w", publicError(public, err))}
			}
			if b := st.Backfill[index]; b != nil {
				baseline = b.Generation
			}
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		resp, err := newClient("", private, creds).Reindex(rctx, args[0])
		if err != nil {
			return &exitError{code: 1, err: reindexError(args[0], private, creds, err)}
		}
		if resp.Index != "" {
			index = resp.Index
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "reindex of %s queued\n", index)
		if !wait {
			return nil
		}
		if err := waitReindex(ctx, public, index, baseline, timeout, out, cmd.ErrOrStderr()); err != nil {
			return &exitError{code: 1, err: err}
		}
		return nil
	}
	return cmd
}

// privateURLFlag registers --private-url, the private surface.
func privateURLFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "private-url", "", "URL of the status service's private surface (env FLUSSO_PRIVATE_URL; default http://<server.private_address>)")
}

// privateURL is --private-url, else $FLUSSO_PRIVATE_URL, else the config's
// server.private_address.
func privateURL(cmd *cobra.Command, flag string, cfg *config.Config) (string, error) {
	raw, from := flag, "--private-url"
	if !cmd.Flags().Changed("private-url") {
		raw, from = os.Getenv("FLUSSO_PRIVATE_URL"), "FLUSSO_PRIVATE_URL"
	}
	if raw != "" {
		return checkBaseURL(from, raw)
	}
	return addressURL(cfg.Server.PrivateAddress), nil
}

// credentials of the private surface, as the status service resolves its
// own: a bearer token, or an HTTP Basic user and password.
type credentials struct{ token, username, password string }

func resolveCredentials(cfg *config.Config) (*credentials, error) {
	var c credentials
	var err error
	if c.token, _, err = cfg.Status.Token.ResolveOptional(nil); err != nil {
		return nil, err
	}
	if c.username, _, err = cfg.Status.Username.ResolveOptional(nil); err != nil {
		return nil, err
	}
	if c.password, _, err = cfg.Status.Password.ResolveOptional(nil); err != nil {
		return nil, err
	}
	if (c.username == "") != (c.password == "") {
		return nil, errors.New("status.username and status.password go together: one of them is empty (--status-username and --status-password, or FLUSSO_STATUS_USERNAME and FLUSSO_STATUS_PASSWORD)")
	}
	return &c, nil
}

// sent names the credentials sent, never their values; the client sends
// the token when there are both.
func (c *credentials) sent() string {
	switch {
	case c.token != "":
		return "token (status.token)"
	case c.username != "":
		return "user and password (status.username, status.password)"
	}
	return ""
}

const (
	privateSetting = "server.private_address, or --private-url"
	credentialHelp = "the status service's token with --status-token or FLUSSO_STATUS_TOKEN (status.token in flusso.toml), " +
		"or its user and password with --status-username and --status-password (FLUSSO_STATUS_USERNAME, FLUSSO_STATUS_PASSWORD)"
)

// privateError explains a failed request to the private surface at base.
func privateError(base string, creds *credentials, err error) error {
	var e *statusapi.Error
	switch {
	case noAnswer(err):
		return reachError("status service's private surface", base, privateSetting, err)
	case errors.As(err, &e) && e.StatusCode == http.StatusUnauthorized:
		if creds.sent() == "" {
			return fmt.Errorf("the private surface at %s needs credentials and none are configured: pass %s. "+
				"A status service configured with none generated a token at start and logged it", base, credentialHelp)
		}
		return fmt.Errorf("the private surface at %s refused the %s flusso sent: pass %s, as the status service has them", base, creds.sent(), credentialHelp)
	}
	return err
}

// reindexError explains a refused reindex with the server's message.
func reindexError(index, base string, creds *credentials, err error) error {
	var e *statusapi.Error
	if !errors.As(err, &e) {
		return privateError(base, creds, err)
	}
	switch e.StatusCode {
	case http.StatusBadRequest:
		return fmt.Errorf("cannot reindex %q: %s", index, e.Message)
	case http.StatusNotFound:
		return fmt.Errorf("cannot reindex %q: %s; flusso indexes lists the indexes", index, e.Message)
	case http.StatusServiceUnavailable:
		msg := e.Message
		if !strings.Contains(msg, "retry") {
			msg += "; retry later"
		}
		return fmt.Errorf("reindex of %q not queued: %s", index, msg)
	}
	return privateError(base, creds, err)
}

// errSeeded ends the wait of a reindex.
var errSeeded = errors.New("seeded")

// waitReindex follows the public surface at base until index has a
// generation later than baseline seeded, printing its progress as it
// changes. A timeout or an interruption ends the wait, not the reindex.
func waitReindex(ctx context.Context, base, index string, baseline int, timeout time.Duration, out, errOut io.Writer) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	fmt.Fprintf(out, "waiting for %s generation %d or later to be seeded…\n", index, baseline+1)
	f := &follower{base: base, interval: 2 * time.Second, notice: func(msg string) {
		if msg != "" {
			fmt.Fprintf(errOut, "flusso: %s\n", msg)
		}
	}}
	var last *statusapi.Backfill
	shown := ""
	err := f.run(ctx, func(st statusapi.Status) error {
		b := st.Backfill[index]
		if b == nil || b.Generation <= baseline {
			return nil
		}
		cp := *b
		last = &cp
		if b.State == statusapi.IndexSeeded {
			line := fmt.Sprintf("%s seeded: generation %d, %s docs", index, b.Generation, count(b.Documents))
			if b.StartedAt != nil && b.SeededAt != nil {
				line += " in " + age(b.SeededAt.Sub(*b.StartedAt))
			}
			fmt.Fprintln(out, line)
			return errSeeded
		}
		if line := "  " + progress(b); line != shown {
			fmt.Fprintln(out, line)
			shown = line
		}
		return nil
	})
	switch {
	case errors.Is(err, errSeeded):
		return nil
	case err != nil:
		return err
	}
	where := "the capture had not started it yet"
	if last != nil {
		where = "last seen at " + progress(last)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s was not seeded within %s (%s); the reindex goes on: follow it with flusso status", index, timeout, where)
	}
	return fmt.Errorf("stopped waiting for %s (%s); the reindex goes on: follow it with flusso status", index, where)
}
