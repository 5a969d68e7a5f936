package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/cli"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// tailOptions say which events flusso events shows, and how.
type tailOptions struct {
	filters []string        // subjects of the consumer
	types   map[string]bool // event names or full types; empty: all
	deliver jetstream.DeliverPolicy
	start   time.Time // of DeliverByStartTimePolicy
	limit   int       // 0: until interrupted
	json    bool
}

func newEvents() *cobra.Command {
	var (
		subject, since, format string
		types                  []string
		all                    bool
		limit                  int
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Tail the pipeline's events (CloudEvents) from NATS JetStream",
		Long: "Print the events of the services of the pipeline that flusso.toml describes, from\n" +
			"its events stream in NATS JetStream, until interrupted. It reads with an ordered\n" +
			"consumer of its own, which leaves the services alone. Without --since or --all\n" +
			"it shows only the events published after it started. docs/events.md describes\n" +
			"every event.",
		Example: "  flusso events --since 10m --subject 'indexer.>'\n" +
			"  flusso events --all --type backfill.progress --type index.seeded\n" +
			"  flusso events --format json -n 100",
		Args: cobra.NoArgs,
	}
	path := cli.ConfigFlag(cmd.Flags())
	cmd.Flags().StringVar(&subject, "subject", ">", "subject pattern after flusso.<pipeline>.events., e.g. indexer.> or *.heartbeat (* is one token: names have dots)")
	cmd.Flags().StringArrayVar(&types, "type", nil, "only events of this name (e.g. batch.committed) or type (dev.flusso.batch.committed.v1); repeatable")
	cmd.Flags().StringVar(&since, "since", "", "start this long ago (10m) or at this time (RFC 3339)")
	cmd.Flags().BoolVar(&all, "all", false, "start from the oldest event the stream holds")
	cmd.Flags().IntVarP(&limit, "limit", "n", 0, "stop after this many events (0: until interrupted)")
	cmd.Flags().StringVar(&format, "format", "human", "output format: human (one line per event) or json (one structured-mode CloudEvent per line)")
	flags := cli.SettingFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		o := tailOptions{limit: limit, json: format == "json", deliver: jetstream.DeliverNewPolicy}
		if format != "human" && format != "json" {
			return usageError("--format must be human or json, not %q", format)
		}
		if limit < 0 {
			return usageError("--limit must not be negative, not %d", limit)
		}
		switch {
		case all && since != "":
			return usageError("--all and --since exclude each other")
		case all:
			o.deliver = jetstream.DeliverAllPolicy
		case since != "":
			start, err := parseSince(since, time.Now())
			if err != nil {
				return usageError("%v", err)
			}
			o.deliver, o.start = jetstream.DeliverByStartTimePolicy, start
		}
		cfg, diags := config.Load(*path, config.Options{Flags: flags()})
		if err := diags.Err(); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("config:\n%w", err)}
		}
		names := changes.NamesFor(cfg.Pipeline())
		var err error
		if o.filters, o.types, err = eventFilters(names, subject, types); err != nil {
			return usageError("%v", err)
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
		if err := tailEvents(ctx, cfg, names, o, cmd.OutOrStdout(), cmd.ErrOrStderr(), log); err != nil {
			return &exitError{code: 1, err: err}
		}
		return nil
	}
	return cmd
}

// parseSince reads --since: a duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--since %s: the duration must be positive", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q is neither a duration (10m, 2h) nor an RFC 3339 time (2025-03-01T10:00:00Z)", s)
	}
	return t, nil
}

// eventFilters turns --subject and --type into the consumer's subjects and
// the types to keep. With the default subject, the types become subjects
// (flusso.<p>.events.*.<name>), so the server sends only those.
func eventFilters(names changes.Names, subject string, types []string) ([]string, map[string]bool, error) {
	prefix := "flusso." + names.Pipeline + ".events." // of names.EventSubject
	subject = strings.TrimPrefix(subject, prefix)
	if err := checkPattern(subject); err != nil {
		return nil, nil, fmt.Errorf("--subject %q: %w", subject, err)
	}
	keep := map[string]bool{}
	var byName []string
	for _, t := range types {
		name := t
		if strings.HasPrefix(t, "dev.flusso.") {
			n, ok := events.NameOf(t)
			if !ok {
				return nil, nil, fmt.Errorf("--type %q: a type is dev.flusso.<name>.v<n>", t)
			}
			name = n
		} else if events.NewData(t) == nil {
			return nil, nil, fmt.Errorf("--type %q is not an event: one of %s", t, strings.Join(events.Names(), ", "))
		}
		keep[t] = true
		if !slices.Contains(byName, name) {
			byName = append(byName, name)
		}
	}
	if subject != ">" || len(byName) == 0 {
		return []string{prefix + subject}, keep, nil
	}
	filters := make([]string, len(byName))
	for i, name := range byName {
		filters[i] = prefix + "*." + name
	}
	return filters, keep, nil
}

// checkPattern accepts NATS subject patterns: dot-separated tokens, *
// for any one token, > for the rest as the last token.
func checkPattern(p string) error {
	tokens := strings.Split(p, ".")
	for i, tok := range tokens {
		switch {
		case tok == "":
			return errors.New("an empty token")
		case strings.ContainsAny(tok, " \t\r\n"):
			return errors.New("white space")
		case tok == ">" && i != len(tokens)-1:
			return errors.New("> must be the last token")
		case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("token %q: * and > stand alone", tok)
		}
	}
	return nil
}

// tailEvents prints the events of the stream that o selects, until ctx ends
// or o.limit events were printed.
func tailEvents(ctx context.Context, cfg *config.Config, names changes.Names, o tailOptions, out, stderr io.Writer, log *slog.Logger) error {
	nc, err := cli.ConnectNATS(cfg, "flusso events", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	url := nc.ConnectedUrlRedacted()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats %s: %w", url, err)
	}
	setup, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := js.Stream(setup, names.EventsStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("nats %s has no stream %s: no flusso service of pipeline %q has run against it", url, names.EventsStream(), names.Pipeline)
	}
	if err != nil {
		return fmt.Errorf("nats %s: stream %s: %w", url, names.EventsStream(), err)
	}
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: o.filters, DeliverPolicy: o.deliver}
	if o.deliver == jetstream.DeliverByStartTimePolicy {
		cc.OptStartTime = &o.start
	}
	cons, err := stream.OrderedConsumer(setup, cc)
	if err != nil {
		return fmt.Errorf("nats %s: consumer on %s: %w", url, names.EventsStream(), err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("nats %s: consume %s: %w", url, names.EventsStream(), err)
	}
	defer it.Stop()
	if !o.json {
		fmt.Fprintf(stderr, "flusso: following %s on %s\n", strings.Join(o.filters, " "), url)
	}
	for shown := 0; o.limit == 0 || shown < o.limit; {
		m, err := it.Next(jetstream.NextContext(ctx))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("nats %s: read %s: %w", url, names.EventsStream(), err)
		}
		e, err := events.FromMsg(m.Headers(), m.Data())
		if err != nil {
			fmt.Fprintf(stderr, "flusso: skipped %s: %v\n", m.Subject(), err)
			continue
		}
		name, _ := events.NameOf(e.Type())
		if len(o.types) > 0 && !o.types[name] && !o.types[e.Type()] {
			continue
		}
		if o.json {
			line, err := json.Marshal(e)
			if err != nil {
				fmt.Fprintf(stderr, "flusso: skipped %s: %v\n", m.Subject(), err)
				continue
			}
			fmt.Fprintf(out, "%s\n", line)
		} else {
			if name == "" {
				name = e.Type()
			}
			fmt.Fprintf(out, "%s  %s  %s  %s\n", e.Time().UTC().Format("2006-01-02T15:04:05.000Z07:00"), e.Source(), name, compactData(e.Data()))
		}
		shown++
	}
	return nil
}

// compactData is the data of an event on one line: compact JSON, or quoted
// when it is not JSON.
func compactData(data []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return fmt.Sprintf("%q", data)
	}
	return b.String()
}
