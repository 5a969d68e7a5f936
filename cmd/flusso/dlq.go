package main

// flusso dlq: the dead-letter stream, where an index under on_error = skip
// keeps the documents a sink rejected. list shows them; replay asks the
// indexers to build each one again from the database as it is now (once the
// data or the mapping is fixed) and removes it from the stream.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/cli"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/document"
	"github.com/flusso-go/flusso/pkg/resolve"
	"github.com/flusso-go/flusso/services/indexer"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newDLQ() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List or replay the dead letters (documents a sink rejected under on_error = skip)",
	}
	cmd.AddCommand(newDLQList(), newDLQReplay())
	return cmd
}

// deadLetter is one message of the dead-letter stream.
type deadLetter struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	indexer.DeadLetter
}

func newDLQList() *cobra.Command {
	var index, format string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Print the dead letters, oldest first",
		Args:  cobra.NoArgs,
	}
	path := cli.ConfigFlag(cmd.Flags())
	flags := cli.SettingFlags(cmd.Flags())
	cmd.Flags().StringVar(&index, "index", "", "only the dead letters of this index")
	cmd.Flags().StringVar(&format, "format", "human", "output format: human (a table) or json (one dead letter per line, with its document)")
	cmd.Flags().IntVarP(&limit, "limit", "n", 0, "at most this many (0: all)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if format != "human" && format != "json" {
			return usageError("--format must be human or json, not %q", format)
		}
		cfg, js, closeNATS, err := dlqSetup(cmd, *path, flags())
		if err != nil {
			return err
		}
		defer closeNATS()
		letters, err := readDeadLetters(cmd.Context(), js, changes.NamesFor(cfg.Pipeline()), index, limit)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		return printDeadLetters(cmd.OutOrStdout(), letters, format == "json")
	}
	return cmd
}

func newDLQReplay() *cobra.Command {
	var index string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Rebuild the dead-lettered documents from the database and remove them from the stream",
		Long: "For each dead letter (of --index, or all), publish a change of its root row to\n" +
			"the change stream, versioned at the database's current WAL position, so that an\n" +
			"indexer builds the document again from the rows as they are now and writes it.\n" +
			"The dead letter is removed once the change is stored. Fix the cause first (the\n" +
			"data, or the schema and a reindex): a document rejected again comes back.",
		Args: cobra.NoArgs,
	}
	path := cli.ConfigFlag(cmd.Flags())
	flags := cli.SettingFlags(cmd.Flags())
	cmd.Flags().StringVar(&index, "index", "", "only the dead letters of this index")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be replayed and change nothing")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, js, closeNATS, err := dlqSetup(cmd, *path, flags())
		if err != nil {
			return err
		}
		defer closeNATS()
		if index != "" {
			if ix := cfg.Index(index); ix == nil || !ix.Enabled {
				return usageError("--index %s: no enabled index of that name in %s", index, *path)
			}
		}
		n, err := replayDeadLetters(cmd.Context(), cfg, js, index, dryRun, cmd.OutOrStdout())
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		verb := "replayed"
		if dryRun {
			verb = "would replay"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %d dead letter(s)\n", verb, n)
		return nil
	}
	return cmd
}

// dlqSetup loads the config and connects to its NATS.
func dlqSetup(cmd *cobra.Command, path string, flags map[string]string) (*config.Config, jetstream.JetStream, func(), error) {
	cfg, diags := config.Load(path, config.Options{Flags: flags})
	if err := diags.Err(); err != nil {
		return nil, nil, nil, &exitError{code: 1, err: fmt.Errorf("config:\n%w", err)}
	}
	log := quietLogger(cmd.ErrOrStderr())
	nc, err := cli.ConnectNATS(cfg, "flusso dlq", log)
	if err != nil {
		return nil, nil, nil, &exitError{code: 1, err: err}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, &exitError{code: 1, err: fmt.Errorf("nats: %w", err)}
	}
	return cfg, js, nc.Close, nil
}

// readDeadLetters reads the stream from its start to its last message as
// of now, keeping those of index (all when empty), at most limit (all when
// 0).
func readDeadLetters(ctx context.Context, js jetstream.JetStream, names changes.Names, index string, limit int) ([]deadLetter, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	stream, err := js.Stream(ctx, names.DLQStream())
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", names.DLQStream(), err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", names.DLQStream(), err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	subject := names.DLQSubject("*")
	if index != "" {
		subject = names.DLQSubject(index)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", names.DLQStream(), err)
	}
	var out []deadLetter
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("dead-letter stream %s: %w", names.DLQStream(), err)
		}
		got := 0
		last := uint64(0)
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			last = meta.Sequence.Stream
			dl := deadLetter{Seq: meta.Sequence.Stream, Time: meta.Timestamp}
			if err := json.Unmarshal(m.Data(), &dl.DeadLetter); err != nil {
				return nil, fmt.Errorf("dead letter #%d: %w", dl.Seq, err)
			}
			out = append(out, dl)
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("dead-letter stream %s: %w", names.DLQStream(), err)
		}
		if got == 0 || last >= info.State.LastSeq {
			return out, nil
		}
	}
}

func printDeadLetters(w io.Writer, letters []deadLetter, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, dl := range letters {
			if err := enc.Encode(dl); err != nil {
				return err
			}
		}
		return nil
	}
	if len(letters) == 0 {
		_, err := fmt.Fprintln(w, "no dead letters")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tINDEX\tID\tSINK\tSTATUS\tREASON")
	for _, dl := range letters {
		reason, _, _ := strings.Cut(dl.Reason, "\n")
		if len(reason) > 100 {
			reason = reason[:97] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", dl.Seq, dl.Time.UTC().Format(time.RFC3339), dl.Index, dl.ID, dl.Sink, dl.Status, reason)
	}
	return tw.Flush()
}

// replayDeadLetters publishes a change of each dead letter's root row and
// deletes the letter once the change is stored.
func replayDeadLetters(ctx context.Context, cfg *config.Config, js jetstream.JetStream, index string, dryRun bool, out io.Writer) (int, error) {
	names := changes.NamesFor(cfg.Pipeline())
	letters, err := readDeadLetters(ctx, js, names, index, 0)
	if err != nil || len(letters) == 0 {
		return 0, err
	}
	url, err := cfg.Source.Connection.Resolve(nil)
	if err != nil {
		return 0, err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return 0, fmt.Errorf("source %s: %w", cfg.Source.Connection, err)
	}
	defer pool.Close()
	cat := catalog.New(pool)
	res, err := resolve.New(ctx, cfg, cat)
	if err != nil {
		return 0, err
	}
	var lsnText string
	if err := pool.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsnText); err != nil {
		return 0, fmt.Errorf("source: current WAL position: %w", err)
	}
	// Versioned at the current position: the rebuilt document reflects the
	// rows at or after it, so it wins over every version written so far.
	lsn, err := changes.ParseLSN(lsnText)
	if err != nil {
		return 0, err
	}
	stream, err := js.Stream(ctx, names.DLQStream())
	if err != nil {
		return 0, err
	}
	builders := map[string]*document.Builder{}
	n := 0
	for _, dl := range letters {
		ix := cfg.Index(dl.Index)
		if ix == nil || !ix.Enabled || ix.Schema == nil {
			fmt.Fprintf(out, "#%d %s/%s: index %s is not enabled in this config; left in the stream\n", dl.Seq, dl.Index, dl.ID, dl.Index)
			continue
		}
		b := builders[dl.Index]
		if b == nil {
			if b, err = document.New(ctx, dl.Index, ix.Schema, cat); err != nil {
				return n, err
			}
			builders[dl.Index] = b
		}
		root := ix.Schema.Table
		key, err := rootKey(ctx, pool, root, b.KeyColumns(), res.KeyColumns(root), dl.ID)
		if err != nil {
			fmt.Fprintf(out, "#%d %s/%s: %v; left in the stream\n", dl.Seq, dl.Index, dl.ID, err)
			continue
		}
		if dryRun {
			fmt.Fprintf(out, "#%d %s/%s: would rebuild from %s.%s (%s) = (%s)\n", dl.Seq, dl.Index, dl.ID, root.Schema, root.Name, strings.Join(res.KeyColumns(root), ", "), strings.Join(key, ", "))
			n++
			continue
		}
		c := &changes.Change{
			V: changes.Version, LSN: lsn, Seq: n, CommitTime: time.Now().UTC(),
			Schema: root.Schema, Table: root.Name, Op: changes.Update, KeyColumns: res.KeyColumns(root), Key: key,
		}
		data, err := changes.Encode(c)
		if err != nil {
			return n, err
		}
		if _, err := js.Publish(ctx, names.ChangeSubject(root.Schema, root.Name), data, jetstream.WithMsgID(fmt.Sprintf("replay:%d:%s", dl.Seq, lsn))); err != nil {
			return n, fmt.Errorf("dead letter #%d: publish its change: %w", dl.Seq, err)
		}
		if err := stream.DeleteMsg(ctx, dl.Seq); err != nil {
			return n, fmt.Errorf("dead letter #%d: replayed, but not removed from %s: %w", dl.Seq, names.DLQStream(), err)
		}
		fmt.Fprintf(out, "#%d %s/%s: replayed\n", dl.Seq, dl.Index, dl.ID)
		n++
	}
	return n, nil
}

// rootKey finds the key of the root row of a document: the values of
// tableKey (the key the change stream carries) of the row whose docKey
// columns, as text, make up id. A row gone since is keyed by the id itself
// when the two keys are the same columns (the rebuild then deletes the
// document).
func rootKey(ctx context.Context, q *pgxpool.Pool, root config.TableRef, docKey, tableKey []string, id string) ([]string, error) {
	values := []string{id}
	if len(docKey) > 1 {
		values = strings.Split(id, ":")
		if len(values) != len(docKey) {
			return nil, fmt.Errorf("id %q does not split into the %d key columns (%s)", id, len(docKey), strings.Join(docKey, ", "))
		}
	}
	if slices.Equal(docKey, tableKey) {
		return values, nil
	}
	sel := make([]string, len(tableKey))
	for i, c := range tableKey {
		sel[i] = pgx.Identifier{c}.Sanitize() + "::text"
	}
	where := make([]string, len(docKey))
	args := make([]any, len(docKey))
	for i, c := range docKey {
		where[i] = fmt.Sprintf("%s::text = $%d", pgx.Identifier{c}.Sanitize(), i+1)
		args[i] = values[i]
	}
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM " + pgx.Identifier{root.Schema, root.Name}.Sanitize() + " WHERE " + strings.Join(where, " AND ")
	key := make([]string, len(tableKey))
	ptrs := make([]any, len(key))
	for i := range key {
		ptrs[i] = &key[i]
	}
	if err := q.QueryRow(ctx, sql, args...).Scan(ptrs...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("its root row is gone (the next change of the table settles the document)")
		}
		return nil, fmt.Errorf("find its root row: %w", err)
	}
	return key, nil
}

// quietLogger logs warnings and errors only, for commands whose output is
// their result.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
