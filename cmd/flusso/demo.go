package main

// flusso demo: the example deployment, live, with nothing to set up. A
// throwaway PostgreSQL from the local binaries is loaded with the examples'
// store, the pipeline of flusso run follows it in this process, and a gentle
// stream of changes shows documents being rebuilt. Everything it makes lives
// in one temporary folder, removed when it stops.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	examplefiles "github.com/flusso-go/flusso/examples"
	"github.com/flusso-go/flusso/pkg/cli"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/pglocal"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
)

// demoOptions are the flags of flusso demo.
type demoOptions struct {
	port  int           // of the public surface; 0 picks a free one
	every time.Duration // between two changes; 0 makes none
	// OpenSearch instead of stdout, when url is set.
	osURL, osUsername, osPassword string
	osTLSVerify                   bool
	instance                      string
}

// demoPasswordEnv carries --opensearch-password to the sink, so that it is
// not written to the demo's flusso.toml. The pipeline resolves its secrets
// from this variable alone, not from the environment: a DATABASE_URL or
// SEARCH_OPENSEARCH_URL in the user's shell cannot redirect the demo.
const demoPasswordEnv = "FLUSSO_DEMO_OPENSEARCH_PASSWORD"

func newDemo() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the example deployment live on a throwaway PostgreSQL",
		Long: "Start a throwaway PostgreSQL server from the local binaries, load the\n" +
			"holiday-stays example into it, and run the whole pipeline over it as flusso run\n" +
			"would, with a change to the database every few seconds. Documents stream to\n" +
			"stdout as JSON lines (or go to OpenSearch with --opensearch-url); logs and the\n" +
			"dashboard's address go to stderr. Ctrl-C stops it and removes everything it made.\n" +
			"It needs the PostgreSQL server binaries (initdb, postgres): found under\n" +
			"/usr/lib/postgresql, on PATH, or in $FLUSSO_PG_BIN.",
		Example: "  flusso demo\n" +
			"  flusso demo | jq -c 'select(.index == \"listings\") | {op, id, title: .document.title}'\n" +
			"  flusso demo --opensearch-url http://127.0.0.1:9200 --opensearch-username admin --opensearch-password secret",
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.IntVar(&o.port, "port", 9464, "port of the dashboard and /status on 127.0.0.1; 0 picks a free one")
	f.DurationVar(&o.every, "changes-every", 2*time.Second, "time between two changes to the database; 0 makes none")
	f.StringVar(&o.osURL, "opensearch-url", "", "write to this OpenSearch instead of stdout")
	f.StringVar(&o.osUsername, "opensearch-username", "", "HTTP Basic user of --opensearch-url")
	f.StringVar(&o.osPassword, "opensearch-password", "", "HTTP Basic password of --opensearch-url")
	f.BoolVar(&o.osTLSVerify, "opensearch-tls-verify", true, "verify the certificate of an https --opensearch-url")
	logger := cli.LogFlags(f)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.port < 0 || o.port > 65535 {
			return usageError("--port: %d is not a port (0 to 65535)", o.port)
		}
		if o.every < 0 {
			return usageError("--changes-every: %s is negative", o.every)
		}
		if o.osURL != "" {
			if u, err := url.Parse(o.osURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageError("--opensearch-url: %q is not an http(s) URL", o.osURL)
			}
		} else if o.osUsername != "" || o.osPassword != "" {
			return usageError("--opensearch-username and --opensearch-password go with --opensearch-url")
		}
		if (o.osUsername == "") != (o.osPassword == "") {
			return usageError("--opensearch-username and --opensearch-password go together")
		}
		log, err := logger(cmd.ErrOrStderr())
		if err != nil {
			return usageError("%v", err)
		}
		bin, err := pglocal.BinDir()
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		o.instance = cli.DefaultInstance("flusso")
		ctx, cancel := context.WithCancel(cmd.Context())
		defer cancel()
		stopOnSignals(cancel, cmd.ErrOrStderr())
		// A write to a closed stdout then fails with EPIPE, which stops the
		// demo in order, instead of killing the process.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
		if err := runDemo(ctx, bin, o, cmd.OutOrStdout(), cmd.ErrOrStderr(), log); err != nil {
			return &exitError{code: 1, err: err}
		}
		return nil
	}
	return cmd
}

// stopOnSignals cancels on the first SIGINT or SIGTERM. One Ctrl-C may
// arrive twice (from the terminal and from a wrapper such as timeout), so
// only another one a second later ends the process at once, leaving the
// files to the next demo.
func stopOnSignals(cancel context.CancelFunc, stderr io.Writer) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		first := time.Now()
		cancel()
		for range sigs {
			if time.Since(first) > time.Second {
				fmt.Fprintln(stderr, "flusso demo: interrupted again: exiting at once; the next flusso demo removes the files left")
				os.Exit(130)
			}
		}
	}()
}

// runDemo runs the demo, with the server binaries in bin, until ctx ends or
// the pipeline fails, and removes what it made in either case.
func runDemo(ctx context.Context, bin string, o demoOptions, stdout, stderr io.Writer, log *slog.Logger) error {
	removeStaleDemos(log)
	dir, err := os.MkdirTemp("", "flusso-demo-")
	if err != nil {
		return fmt.Errorf("temporary folder: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// The server runs as the postgres user, in a folder of its own in here.
		if err := os.Chmod(dir, 0o711); err != nil {
			return err
		}
	}
	public, err := demoAddress(o.port)
	if err != nil {
		return err
	}
	private, err := demoAddress(0)
	if err != nil {
		return err
	}

	log.Info("starting a throwaway PostgreSQL", "bin", bin)
	pg, err := pglocal.Start(ctx, pglocal.Options{Parent: dir, BinDir: bin})
	if err != nil {
		return ignoreCanceled(ctx, fmt.Errorf("postgres: %w", err))
	}
	defer pg.Stop()
	log.Info("PostgreSQL started", "version", pg.Version, "port", pg.Port)
	start := time.Now()
	if err := loadStore(ctx, pg); err != nil {
		return ignoreCanceled(ctx, err)
	}
	log.Info("the example's store is loaded", "database", "stays", "took", time.Since(start).Round(time.Millisecond))

	token, err := randomToken()
	if err != nil {
		return err
	}
	cfgPath, err := writeDemoConfig(dir, pg.URL("stays"), public, private, token, o)
	if err != nil {
		return err
	}
	cfg, diags := config.Load(cfgPath, config.Options{Env: noEnv})
	if err := diags.Err(); err != nil {
		return fmt.Errorf("the demo's config:\n%w", err)
	}
	env := func(name string) (string, bool) {
		if name == demoPasswordEnv && o.osPassword != "" {
			return o.osPassword, true
		}
		return "", false
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		st := &statusapi.Client{BaseURL: "http://" + public, HTTP: &http.Client{Timeout: 2 * time.Second}}
		if !waitPhase(runCtx, st, "") {
			return
		}
		printBanner(stderr, public, private, token, pg.Port, cfgPath, cfg, o)
		if o.every <= 0 || !waitPhase(runCtx, st, statusapi.PhaseLive) {
			return
		}
		log.Info("every index is seeded: the demo now changes the database", "every", o.every)
		applyChanges(runCtx, pg.URL("stays"), o.every, log)
	})
	// A closed stdout (flusso demo | head) ends the demo: the indexer would
	// retry the write forever.
	out := &pipeWriter{w: stdout, closed: func() {
		log.Info("stdout was closed: stopping")
		cancel()
	}}
	err = runAll(runCtx, cfg, o.instance, out, env, log)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	log.Info("flusso demo stopped; removing its files", "dir", dir)
	return nil
}

func noEnv(string) (string, bool) { return "", false }

// pipeWriter calls closed once when a write finds the reader gone.
type pipeWriter struct {
	w      io.Writer
	closed func()
	once   sync.Once
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if errors.Is(err, syscall.EPIPE) {
		p.once.Do(p.closed)
	}
	return n, err
}

// demoAddress returns 127.0.0.1:port, checking that the port is free now;
// port 0 picks a free one, since the banner must name it before the
// pipeline binds it.
func demoAddress(port int) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return "", fmt.Errorf("port %d of 127.0.0.1 is taken (another flusso?): choose another with --port, or --port 0 for a free one", port)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// removeStaleDemos removes the folders of demos whose process was killed
// (its server died with it, its files stayed). Each folder names its
// owner in owner.pid.
func removeStaleDemos(log *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "flusso-demo-*"))
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		if pid, _ := strconv.Atoi(string(owner)); pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH {
			if os.RemoveAll(dir) == nil {
				log.Info("removed the files of a demo that was killed", "dir", dir)
			}
		}
	}
}

// loadStore creates the database stays and runs the examples' schema and
// seed in it.
func loadStore(ctx context.Context, pg *pglocal.Server) error {
	admin, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE stays")
	admin.Close(context.Background())
	if err != nil {
		return fmt.Errorf("postgres: create database stays: %w", err)
	}
	conn, err := pgx.Connect(ctx, pg.URL("stays"))
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.Background())
	files, _ := fs.Glob(examplefiles.Files, "postgres/*.sql") // in order: 01_schema, 02_seed
	for _, name := range files {
		sql, err := fs.ReadFile(examplefiles.Files, name)
		if err != nil {
			return err
		}
		// The simple protocol runs a whole script in one round trip.
		if _, err := conn.Exec(ctx, string(sql), pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("load examples/%s: %w", name, err)
		}
	}
	return nil
}

func randomToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// writeDemoConfig writes the examples' index schemas and a flusso.toml
// derived from the examples' one into dir, and returns the toml's path.
// The examples' prefix, policies and indexes stay; the source, the sinks,
// the addresses and NATS are the demo's.
func writeDemoConfig(dir, dbURL, public, private, token string, o demoOptions) (string, error) {
	const exampleFile = "flusso.toml"
	data, err := fs.ReadFile(examplefiles.Files, exampleFile)
	if err != nil {
		return "", err
	}
	ex, diags := config.Parse(exampleFile, data, config.Options{Env: noEnv}, func(name string) ([]byte, error) {
		return fs.ReadFile(examplefiles.Files, path.Clean(filepath.ToSlash(name)))
	})
	if err := diags.Err(); err != nil {
		return "", fmt.Errorf("the examples' flusso.toml:\n%w", err)
	}
	schemas, _ := fs.Glob(examplefiles.Files, "*.schema.yml")
	for _, name := range schemas {
		b, err := fs.ReadFile(examplefiles.Files, name)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", err
		}
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Written by `flusso demo` from the examples' flusso.toml, and removed when it stops.")
	w("prefix = %s", tomlString(ex.Prefix))
	w("on_error = %s", tomlString(string(ex.OnError)))
	w("")
	w("[source]")
	w("type = \"postgres\"")
	w("connection_url = %s   # the throwaway server", tomlString(dbURL))
	w("manage_publication = true")
	w("")
	if o.osURL == "" {
		w("[sinks.audit]")
		w("type = \"stdout\"")
		w("pretty = false")
	} else {
		w("[sinks.search]")
		w("type = \"opensearch\"")
		w("url = %s", tomlString(o.osURL))
		if o.osUsername != "" {
			w("username = %s", tomlString(o.osUsername))
			w("password = { env = %s }   # given to flusso demo on its command line", tomlString(demoPasswordEnv))
		}
		w("tls_verify = %t", o.osTLSVerify)
		for _, s := range ex.Sinks {
			if s.OpenSearch == nil {
				continue
			}
			x := s.OpenSearch
			w("batch_size = %d", x.BatchSize)
			w("max_bytes = %d", x.MaxBytes)
			w("timeout_secs = %d", int(time.Duration(x.Timeout)/time.Second))
			w("max_retries = %d", x.MaxRetries)
			w("number_of_shards = %d", x.NumberOfShards)
			w("number_of_replicas = %d", x.NumberOfReplicas)
			w("refresh_interval = %s", tomlString(x.RefreshInterval))
			w("text_analysis = %s", tomlString(string(x.TextAnalysis)))
			w("auto_subfields = %t", x.AutoSubfields)
			break
		}
	}
	for _, ix := range ex.Indexes {
		w("")
		w("[[index]]")
		w("name = %s", tomlString(ix.Name))
		w("schema = %s", tomlString(ix.SchemaFile))
		w("enabled = %t", ix.Enabled)
		if ix.OnError != ex.OnError {
			w("on_error = %s", tomlString(string(ix.OnError)))
		}
	}
	w("")
	w("[server]")
	w("public_address = %s", tomlString(public))
	w("private_address = %s", tomlString(private))
	w("")
	w("[nats]")
	w("data_dir = %s", tomlString(filepath.Join(dir, "nats")))
	w("listen = \"127.0.0.1:0\"")
	w("")
	w("[status]")
	w("token = %s", tomlString(token))
	p := filepath.Join(dir, "flusso.toml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	return p, nil
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// waitPhase polls /status until it answers, with phase want when want is
// set; false when ctx ends first.
func waitPhase(ctx context.Context, st *statusapi.Client, want string) bool {
	for {
		if s, err := st.Status(ctx); err == nil && (want == "" || s.Phase == want) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// printBanner tells, once the surfaces answer, where to look. The token
// is shown here only.
func printBanner(w io.Writer, public, private, token string, dbPort int, cfgPath string, cfg *config.Config, o demoOptions) {
	var b strings.Builder
	line := strings.Repeat("─", 72)
	fmt.Fprintf(&b, "\n%s\n flusso demo: the holiday-stays example, kept in sync live\n\n", line)
	fmt.Fprintf(&b, "   dashboard   http://%s/\n", public)
	fmt.Fprintf(&b, "   status      http://%s/status\n", public)
	fmt.Fprintf(&b, "   private     http://%s/indexes   (Authorization: Bearer %s)\n", private, token)
	fmt.Fprintf(&b, "   database    psql -h 127.0.0.1 -p %d -U postgres stays   (make changes of your own)\n", dbPort)
	fmt.Fprintf(&b, "   events      %s events -c %s\n\n", selfCommand(), cfgPath)
	if o.osURL == "" {
		b.WriteString(" Documents stream to stdout, one JSON line per upsert or delete (pipe into jq).\n")
	} else {
		var aliases []string
		for _, name := range cfg.EnabledIndexes() {
			aliases = append(aliases, cfg.Prefix+name)
		}
		fmt.Fprintf(&b, " Documents go to %s, behind the aliases %s.\n", o.osURL, strings.Join(aliases, ", "))
	}
	if o.every > 0 {
		fmt.Fprintf(&b, " Once every index is seeded, a change every %s rebuilds a few documents.\n", o.every)
	}
	fmt.Fprintf(&b, " Ctrl-C to stop: everything above is removed.\n%s\n\n", line)
	_, _ = io.WriteString(w, b.String())
}

// selfCommand is how the user runs this flusso again: "go run ./cmd/flusso"
// when it was built by go run, whose binary is gone afterwards.
func selfCommand() string {
	if exe, err := os.Executable(); err == nil && strings.Contains(exe, "go-build") {
		return "go run ./cmd/flusso"
	}
	return "flusso"
}

// applyChanges makes one change to the store every interval until ctx
// ends, each logged in one line. A failed change is logged and the next
// one tried.
func applyChanges(ctx context.Context, dbURL string, every time.Duration, log *slog.Logger) {
	c := &changer{}
	defer func() {
		if c.conn != nil {
			c.conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if c.conn == nil || c.conn.IsClosed() {
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("demo change: connect", "err", err)
				}
				continue
			}
			c.conn = conn
		}
		what, err := c.apply(ctx, n)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("demo change failed", "err", err)
		default:
			log.Info("demo change", "what", what)
		}
	}
}

// changer makes the demo's changes: a rotation over the store's tables,
// each undoing itself over time (prices go up then down, a suffix comes and
// goes) so that a long demo keeps the data plausible.
type changer struct {
	conn     *pgx.Conn
	archived string // the listing the last archive step retracted
}

func (c *changer) apply(ctx context.Context, n int) (string, error) {
	steps := []func(context.Context, int) (string, error){
		c.price, c.booking, c.hostRename, c.review, c.title, c.photo, c.archive, c.nightRate,
	}
	return steps[n%len(steps)](ctx, n/len(steps))
}

// listing picks a published listing for round n.
func (c *changer) listing(ctx context.Context, n int) (id, title string, err error) {
	err = c.conn.QueryRow(ctx, `SELECT id::text, trim(title) FROM stays.listings WHERE status = 'published'
		ORDER BY id OFFSET $1 LIMIT 1`, (n*37)%100).Scan(&id, &title)
	return id, title, err
}

// sign alternates the direction of a change between rounds of picks, so
// that a value that went up goes down the next time it is picked.
func sign(n int) int {
	if n%2 == 0 {
		return 1
	}
	return -1
}

func (c *changer) price(ctx context.Context, n int) (string, error) {
	id, title, err := c.listing(ctx, n)
	if err != nil {
		return "", err
	}
	var price, currency string
	err = c.conn.QueryRow(ctx, `UPDATE stays.listings SET nightly_price = greatest(nightly_price + $2, 20), updated_at = now()
		WHERE id = $1 RETURNING nightly_price::text, currency`, id, 5*sign(n/100)).Scan(&price, &currency)
	return fmt.Sprintf("listing “%s” now costs %s %s a night", title, price, currency), err
}

func (c *changer) title(ctx context.Context, n int) (string, error) {
	id, _, err := c.listing(ctx, n+1)
	if err != nil {
		return "", err
	}
	var title string
	err = c.conn.QueryRow(ctx, `UPDATE stays.listings SET updated_at = now(),
		title = CASE WHEN title LIKE '% (renovated)' THEN left(title, -12) ELSE title || ' (renovated)' END
		WHERE id = $1 RETURNING trim(title)`, id).Scan(&title)
	return fmt.Sprintf("listing renamed “%s”", title), err
}

func (c *changer) booking(ctx context.Context, n int) (string, error) {
	id, title, err := c.listing(ctx, n+2)
	if err != nil {
		return "", err
	}
	var booking int
	var checkIn string
	err = c.conn.QueryRow(ctx, `INSERT INTO stays.bookings (id, listing_id, guest_id, check_in, check_out, guests, total, status, cancelled, created_at)
		SELECT (SELECT coalesce(max(id), 0) + 1 FROM stays.bookings), l.id, $2, current_date + $3::int, current_date + $3::int + 3,
		       1, l.nightly_price * 3 + 20, 'confirmed', false, now()
		FROM stays.listings l WHERE l.id = $1
		RETURNING id, check_in::text`, id, 1+n%60, 30+n%90).Scan(&booking, &checkIn)
	return fmt.Sprintf("booking %d: 3 nights at “%s” from %s", booking, title, checkIn), err
}

func (c *changer) review(ctx context.Context, n int) (string, error) {
	var booking int
	err := c.conn.QueryRow(ctx, `INSERT INTO stays.reviews (booking_id, rating, body, created_at)
		SELECT b.id, $1, 'Just as the photos promised; we would come back.', now()
		FROM stays.bookings b
		WHERE b.status = 'completed' AND NOT EXISTS (SELECT 1 FROM stays.reviews r WHERE r.booking_id = b.id)
		ORDER BY b.id LIMIT 1
		RETURNING booking_id`, 4+n%2).Scan(&booking)
	if err == nil {
		return fmt.Sprintf("review of booking %d: %d stars", booking, 4+n%2), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	// Every completed stay has its review: hosts answer them instead.
	var replied bool
	err = c.conn.QueryRow(ctx, `UPDATE stays.reviews SET host_reply = CASE WHEN host_reply IS NULL THEN 'Thank you, come back soon!' END
		WHERE booking_id = (SELECT booking_id FROM stays.reviews ORDER BY booking_id OFFSET $1 LIMIT 1)
		RETURNING booking_id, host_reply IS NOT NULL`, (n*7)%200).Scan(&booking, &replied)
	if replied {
		return fmt.Sprintf("the host replied to the review of booking %d", booking), err
	}
	return fmt.Sprintf("the host withdrew the reply to the review of booking %d", booking), err
}

func (c *changer) hostRename(ctx context.Context, n int) (string, error) {
	var id int64
	var name string
	err := c.conn.QueryRow(ctx, `UPDATE stays.hosts
		SET display_name = CASE WHEN display_name LIKE '% & family' THEN left(display_name, -9) ELSE display_name || ' & family' END
		WHERE id = (SELECT h.id FROM stays.hosts h
		            WHERE h.deleted_at IS NULL AND EXISTS (SELECT 1 FROM stays.listings l WHERE l.host_id = h.id)
		            ORDER BY h.id OFFSET $1 LIMIT 1)
		RETURNING id, display_name`, (n*7)%30).Scan(&id, &name)
	return fmt.Sprintf("host %d renamed “%s”", id, name), err
}

// photo deletes the last photo of a listing that has two or more, and adds
// one to a listing with fewer.
func (c *changer) photo(ctx context.Context, n int) (string, error) {
	id, title, err := c.listing(ctx, n+3)
	if err != nil {
		return "", err
	}
	var count int
	if err := c.conn.QueryRow(ctx, `SELECT count(*) FROM stays.photos WHERE listing_id = $1`, id).Scan(&count); err != nil {
		return "", err
	}
	var position int
	if count >= 2 {
		err = c.conn.QueryRow(ctx, `DELETE FROM stays.photos WHERE id = (SELECT max(id) FROM stays.photos WHERE listing_id = $1)
			RETURNING position`, id).Scan(&position)
		return fmt.Sprintf("photo %d of “%s” deleted", position, title), err
	}
	err = c.conn.QueryRow(ctx, `INSERT INTO stays.photos (id, listing_id, position, url, caption, checksum)
		SELECT (SELECT max(id) + 1 FROM stays.photos), $1, p.position,
		       'https://img.stays.example/' || md5($1::text) || '/' || p.position || '.jpg', 'Terrace',
		       decode(md5($1::text || p.position), 'hex')
		FROM (SELECT coalesce(max(position), 0) + 1 AS position FROM stays.photos WHERE listing_id = $1) p
		RETURNING position`, id).Scan(&position)
	return fmt.Sprintf("photo %d of “%s” added", position, title), err
}

// archive retracts a listing (its document becomes a delete), and
// publishes it again the next time.
func (c *changer) archive(ctx context.Context, n int) (string, error) {
	if c.archived != "" {
		var title string
		err := c.conn.QueryRow(ctx, `UPDATE stays.listings SET status = 'published', updated_at = now() WHERE id = $1
			RETURNING trim(title)`, c.archived).Scan(&title)
		if err != nil {
			return "", err
		}
		c.archived = ""
		return fmt.Sprintf("listing “%s” published again", title), nil
	}
	id, title, err := c.listing(ctx, n+4)
	if err != nil {
		return "", err
	}
	if _, err := c.conn.Exec(ctx, `UPDATE stays.listings SET status = 'archived', updated_at = now() WHERE id = $1`, id); err != nil {
		return "", err
	}
	c.archived = id
	return fmt.Sprintf("listing “%s” archived: its document is deleted", title), nil
}

func (c *changer) nightRate(ctx context.Context, n int) (string, error) {
	var night, price, title string
	err := c.conn.QueryRow(ctx, `UPDATE stays.night_rates r SET price = r.price + $2
		WHERE (r.listing_id, r.night) = (SELECT listing_id, night FROM stays.night_rates
		                                 WHERE night BETWEEN '2024-07-01' AND '2024-08-31' AND price > 10
		                                 ORDER BY listing_id, night OFFSET $1 LIMIT 1)
		RETURNING r.night::text, r.price::text, (SELECT trim(title) FROM stays.listings l WHERE l.id = r.listing_id)`,
		(n*53)%500, 3*sign(n/500)).Scan(&night, &price, &title)
	return fmt.Sprintf("night of %s at “%s” now costs %s", night, title, price), err
}
