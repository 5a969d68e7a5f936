package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flusso-go/flusso/pkg/cli"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/dbcheck"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"
)

func newCheck() *cobra.Command {
	var (
		offline bool
		format  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate flusso.toml and the index schemas against the database, and print each index's field tree",
		Long: "Validate flusso.toml and the index schemas, print each index's field tree, then\n" +
			"connect to the source database and check every table, column, type and key\n" +
			"the schemas name, the publication and the replication settings.\n" +
			"--offline checks the files only.",
		Args: cobra.NoArgs,
	}
	path := cli.ConfigFlag(cmd.Flags())
	cmd.Flags().BoolVar(&offline, "offline", false, "check the files only, without connecting to the database")
	cmd.Flags().StringVar(&format, "format", "human", "output format: human or json")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the database: to connect, then to read its catalog")
	flags := cli.SettingFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if format != "human" && format != "json" {
			return usageError("--format must be human or json, not %q", format)
		}
		if timeout <= 0 {
			return usageError("--timeout must be positive, not %s", timeout)
		}
		cfg, diags := config.Load(*path, config.Options{Flags: flags()})
		var db *databaseCheck
		if !offline && diags.Err() == nil {
			db = checkDatabase(cmd.Context(), cfg, timeout, os.LookupEnv)
		}
		out := cmd.OutOrStdout()
		if format == "json" {
			if err := writeCheckJSON(out, cfg, diags, db); err != nil {
				return err
			}
		} else {
			writeCheckHuman(out, cmd.ErrOrStderr(), *path, cfg, diags)
			if db != nil {
				writeDatabaseHuman(out, cmd.ErrOrStderr(), db)
			}
		}
		if diags.Err() != nil || (db != nil && db.diagnostics().Err() != nil) {
			return &exitError{code: 1}
		}
		return nil
	}
	return cmd
}

type checkIndex struct {
	Name    string             `json:"name"`
	Schema  string             `json:"schema"`
	Enabled bool               `json:"enabled"`
	OnError config.OnError     `json:"on_error"`
	Names   config.IndexNames  `json:"opensearch"`
	Table   config.TableRef    `json:"table"`
	Key     []string           `json:"primary_key,omitempty"`
	Fields  []*config.Field    `json:"fields"`
	Delete  *config.SoftDelete `json:"soft_delete,omitempty"`
	Filters []config.Filter    `json:"filters,omitempty"`
}

func writeCheckJSON(w io.Writer, cfg *config.Config, diags config.Diagnostics, db *databaseCheck) error {
	if db != nil {
		diags = append(append(config.Diagnostics{}, diags...), db.diagnostics()...)
	}
	report := struct {
		OK          bool               `json:"ok"`
		Config      *config.Config     `json:"config,omitempty"`
		Indexes     []checkIndex       `json:"indexes"`
		Database    *databaseJSON      `json:"database,omitempty"`
		Diagnostics config.Diagnostics `json:"diagnostics"`
	}{OK: diags.Err() == nil, Config: cfg, Indexes: []checkIndex{}, Database: db.json(), Diagnostics: diags}
	if report.Diagnostics == nil {
		report.Diagnostics = config.Diagnostics{}
	}
	if cfg != nil {
		for _, ix := range cfg.Indexes {
			s := ix.Schema
			report.Indexes = append(report.Indexes, checkIndex{
				Name: ix.Name, Schema: ix.SchemaFile, Enabled: ix.Enabled, OnError: ix.OnError, Names: cfg.Names(ix),
				Table: s.Table, Key: s.PrimaryKey, Fields: s.Fields, Delete: s.SoftDelete, Filters: s.Filters,
			})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(report)
}

func writeCheckHuman(out, errOut io.Writer, path string, cfg *config.Config, diags config.Diagnostics) {
	for _, d := range diags {
		fmt.Fprintln(errOut, d)
	}
	if cfg == nil {
		n := len(diags.Errors())
		fmt.Fprintf(errOut, "%s: %d error%s\n", path, n, plural(n))
		return
	}
	fmt.Fprintf(out, "%s: ok\n", path)
	fmt.Fprintf(out, "source    postgres %s (manage_publication %t)\n", cfg.Source.Connection, cfg.Source.ManagePublication)
	for _, s := range cfg.Sinks {
		switch s.Type {
		case config.SinkOpenSearch:
			o := s.OpenSearch
			auth := ""
			if !o.Username.IsZero() {
				auth = ", user " + o.Username.String()
			}
			fmt.Fprintf(out, "sink      %s: opensearch %s (%d shard(s), %d replica(s), refresh %s, %s analysis%s)\n",
				s.Name, o.URL, o.NumberOfShards, o.NumberOfReplicas, o.RefreshInterval, o.TextAnalysis, auth)
		case config.SinkStdout:
			fmt.Fprintf(out, "sink      %s: stdout (pretty %t)\n", s.Name, s.Stdout.Pretty)
		}
	}
	fmt.Fprintf(out, "pipeline  %s (slot %s, publication %s, NATS %s)\n", cfg.Pipeline(), cfg.Capture.Slot, cfg.Capture.Publication, natsDescription(cfg))
	for _, ix := range cfg.Indexes {
		s := ix.Schema
		names := cfg.Names(ix)
		state := ""
		if !ix.Enabled {
			state = ", disabled"
		}
		fmt.Fprintf(out, "\nindex %s  %s, key %s, on_error %s%s\n", ix.Name, s.Table, keyText(s.PrimaryKey), ix.OnError, state)
		fmt.Fprintf(out, "  opensearch  %s → %s → %s\n", names.Alias, names.HashAlias, names.Generation(1))
		if len(s.Filters) > 0 {
			fmt.Fprintf(out, "  rows        where %s\n", filtersText(s.Filters))
		}
		if sd := s.SoftDelete; sd != nil {
			marker := sd.Column
			if sd.Field != "" {
				marker = "field " + sd.Field
			}
			cond := "is truthy"
			if len(sd.When) > 0 {
				cond = "when " + filtersText(sd.When)
			}
			fmt.Fprintf(out, "  deleted     %s %s\n", marker, cond)
		}
		writeTree(out, s.Fields, "  ")
	}
	if w := len(diags.Warnings()); w > 0 {
		fmt.Fprintf(out, "\n%d warning%s (above)\n", w, plural(w))
	}
}

func natsDescription(cfg *config.Config) string {
	if cfg.NATS.URL == "" {
		return "embedded in " + cfg.NATS.DataDir
	}
	return cfg.NATS.URL
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func keyText(cols []string) string {
	switch len(cols) {
	case 0:
		return "(from the catalog)"
	case 1:
		return cols[0]
	}
	return "(" + strings.Join(cols, ", ") + ")"
}

func writeTree(w io.Writer, fields []*config.Field, indent string) {
	width := 0
	for _, f := range fields {
		width = max(width, len(f.Name))
	}
	for i, f := range fields {
		branch, next := "├─ ", "│  "
		if i == len(fields)-1 {
			branch, next = "└─ ", "   "
		}
		fmt.Fprintf(w, "%s%s%-*s  %s\n", indent, branch, width, f.Name, describeField(f))
		if len(f.Fields) > 0 {
			writeTree(w, f.Fields, indent+next)
		}
	}
}

func describeField(f *config.Field) string {
	var parts []string
	switch f.Kind {
	case config.KindScalar:
		parts = append(parts, fmt.Sprintf("%-10s ← %s", f.Type, f.Column))
		if len(f.Variants) > 0 {
			parts = append(parts, "ranked "+strings.Join(f.Variants, " < "))
		}
		for _, t := range f.Transforms {
			parts = append(parts, string(t))
		}
	case config.KindCustom:
		parts = append(parts, fmt.Sprintf("%-10s ← %s as %s (accepts %s)", "custom", f.Column, f.Custom.OpenSearch, strings.Join(f.Custom.Postgres, ", ")))
	case config.KindGeo:
		if f.Geo.Column != "" {
			parts = append(parts, fmt.Sprintf("%-10s ← %s", "geo", f.Geo.Column))
		} else {
			parts = append(parts, fmt.Sprintf("%-10s ← %s, %s", "geo", f.Geo.Lat, f.Geo.Lon))
		}
	case config.KindMap:
		parts = append(parts, fmt.Sprintf("%-10s ← %s", "map<"+string(f.Type)+">", f.Column))
	case config.KindConstant:
		v, _ := json.Marshal(f.Value)
		parts = append(parts, fmt.Sprintf("%-10s = %s", "constant", v))
	case config.KindObject:
		parts = append(parts, "object")
	case config.KindRelation:
		parts = append(parts, relationText(f.Relation))
	case config.KindAggregate:
		parts = append(parts, aggregateText(f.Aggregate))
	}
	if f.Required {
		parts = append(parts, "required")
	}
	if f.HasDefault {
		v, _ := json.Marshal(f.Default)
		parts = append(parts, "default "+string(v))
	}
	if len(f.Options) > 0 {
		v, _ := json.Marshal(f.Options)
		parts = append(parts, "options "+string(v))
	}
	return strings.Join(parts, ", ")
}

func relationText(r *config.Relation) string {
	var s string
	switch r.Kind {
	case config.BelongsTo:
		s = fmt.Sprintf("%-10s %s on %s = %s", r.Kind, r.Table, keyText(r.PrimaryKey), keyText(r.Column))
	case config.HasOne, config.HasMany:
		s = fmt.Sprintf("%-10s %s on %s", r.Kind, r.Table, keyText(r.ForeignKey))
	case config.ManyToMany:
		s = fmt.Sprintf("%-10s %s through %s (%s → %s)", r.Kind, r.Table, r.Through.Table, keyText(r.Through.LeftKey), keyText(r.Through.RightKey))
	}
	if len(r.Filters) > 0 {
		s += ", where " + filtersText(r.Filters)
	}
	if len(r.OrderBy) > 0 {
		var o []string
		for _, ob := range r.OrderBy {
			o = append(o, ob.Column+" "+ob.Direction)
		}
		s += ", order by " + strings.Join(o, ", ")
	}
	if r.Limit > 0 {
		s += fmt.Sprintf(", limit %d", r.Limit)
	}
	return s
}

func aggregateText(a *config.Aggregate) string {
	op := string(a.Func)
	if a.Column != "" {
		op += "(" + a.Column + ")"
	}
	s := fmt.Sprintf("%-10s %s %s", op, a.ResultType, a.Table)
	if a.Through != nil {
		s += " through " + a.Through.Table.String()
	} else {
		s += " on " + keyText(a.ForeignKey)
	}
	if len(a.Filters) > 0 {
		s += ", where " + filtersText(a.Filters)
	}
	return s
}

func filtersText(filters []config.Filter) string {
	var parts []string
	for _, f := range filters {
		if f.Raw != "" {
			parts = append(parts, "("+f.Raw+")")
			continue
		}
		s := f.Column + " " + string(f.Op)
		if f.Value != nil {
			v, _ := json.Marshal(f.Value)
			s += " " + string(v)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " and ")
}

// databaseCheck is the outcome of checking the deployment against its
// database: the report, or why there is none.
type databaseCheck struct {
	// Connection describes the database reached, without any secret.
	Connection string
	Report     *dbcheck.Report
	// Failure says why the check could not run: an unset variable, a bad
	// connection string, an unreachable server.
	Failure *config.Diagnostic
}

func (d *databaseCheck) diagnostics() config.Diagnostics {
	if d.Failure != nil {
		return config.Diagnostics{*d.Failure}
	}
	return d.Report.Diagnostics
}

// checkDatabase connects to the source and runs dbcheck. No message it
// produces carries the connection's password: descriptions are rebuilt from
// the parsed parts, and driver errors are scrubbed.
func checkDatabase(ctx context.Context, cfg *config.Config, timeout time.Duration, lookup config.LookupEnv) *databaseCheck {
	conn := cfg.Source.Connection
	from := conn.String()
	if _, set := lookup(config.ReservedDatabaseURL); set && conn.URL.EnvVar() == "" {
		from = "env:" + config.ReservedDatabaseURL // it overrides the file
	}
	res := &databaseCheck{Connection: from}
	fail := func(path, format string, args ...any) *databaseCheck {
		res.Failure = &config.Diagnostic{Severity: config.SeverityError, Position: config.Position{File: cfg.File}, Path: path, Message: fmt.Sprintf(format, args...)}
		return res
	}
	raw, err := conn.Resolve(lookup)
	if err != nil {
		return fail("source.connection_url", "%s", strings.TrimPrefix(err.Error(), "source.connection_url: "))
	}
	secrets := connectionSecrets(raw)
	pc, err := pgx.ParseConfig(raw)
	if err != nil {
		return fail("source.connection_url", "%s is not a valid PostgreSQL connection string: %s", from, scrub(err.Error(), secrets))
	}
	if pc.Password != "" {
		secrets = append(secrets, pc.Password)
	}
	res.Connection = describeConnection(pc.Config)
	if strings.HasPrefix(from, "env:") {
		res.Connection += " (" + from + ")"
	}
	pc.ConnectTimeout = timeout
	pc.RuntimeParams["application_name"] = "flusso check"
	connectCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	db, err := pgx.ConnectConfig(connectCtx, pc)
	if err != nil {
		return fail("source.connection_url", "cannot connect to %s: %s", res.Connection, scrub(err.Error(), secrets))
	}
	defer db.Close(context.Background())
	checkCtx, cancelCheck := context.WithTimeout(ctx, timeout)
	defer cancelCheck()
	rep, err := dbcheck.Check(checkCtx, cfg, db)
	if err != nil {
		return fail("source", "cannot check the database %s: %s", res.Connection, scrub(err.Error(), secrets))
	}
	res.Report = &rep
	return res
}

// connectionSecrets lists the passwords a connection string carries, as a
// URL or as key=value pairs.
func connectionSecrets(raw string) []string {
	var out []string
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p)
		}
		for _, k := range []string{"password", "sslpassword"} {
			if p := u.Query().Get(k); p != "" {
				out = append(out, p)
			}
		}
	}
	for _, field := range strings.Fields(raw) {
		if k, v, ok := strings.Cut(field, "="); ok && (k == "password" || k == "sslpassword") && strings.Trim(v, "'") != "" {
			out = append(out, strings.Trim(v, "'"))
		}
	}
	return out
}

func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
		if e := url.QueryEscape(s); e != s {
			msg = strings.ReplaceAll(msg, e, "xxxxx")
		}
	}
	return msg
}

// describeConnection renders where a connection goes, as a URL without the
// password.
func describeConnection(c pgconn.Config) string {
	u := url.URL{Scheme: "postgres", User: url.User(c.User), Path: "/" + c.Database}
	if strings.HasPrefix(c.Host, "/") {
		u.RawQuery = url.Values{"host": {c.Host}}.Encode() // a Unix socket folder
	} else {
		u.Host = net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
	}
	return u.String()
}

type databaseJSON struct {
	Connection  string                 `json:"connection"`
	Checked     bool                   `json:"checked"`
	Server      *dbcheck.Server        `json:"server,omitempty"`
	Publication *dbcheck.Publication   `json:"publication,omitempty"`
	Slot        *dbcheck.Slot          `json:"slot,omitempty"`
	Indexes     []dbcheck.IndexSummary `json:"indexes,omitempty"`
}

func (d *databaseCheck) json() *databaseJSON {
	if d == nil {
		return nil
	}
	out := &databaseJSON{Connection: d.Connection}
	if r := d.Report; r != nil {
		out.Checked = true
		out.Server, out.Publication, out.Slot, out.Indexes = &r.Server, &r.Publication, &r.Slot, r.Indexes
	}
	return out
}

// writeDatabaseHuman prints what the database check saw and found, after
// the field tree.
func writeDatabaseHuman(out, errOut io.Writer, db *databaseCheck) {
	fmt.Fprintf(out, "\ndatabase  %s\n", db.Connection)
	if db.Failure != nil {
		fmt.Fprintln(errOut, db.Failure)
		fmt.Fprintln(errOut, "database: not checked")
		return
	}
	r := db.Report
	s := r.Server
	role := "role " + s.Role
	switch {
	case s.Superuser:
		role += " (superuser)"
	case s.Replication:
		role += " (replication)"
	}
	fmt.Fprintf(out, "  server       PostgreSQL %s, database %s, %s\n", s.Version, s.Database, role)
	fmt.Fprintf(out, "  replication  wal_level %s, max_replication_slots %d, max_wal_senders %d\n", s.WALLevel, s.MaxReplicationSlots, s.MaxWALSenders)
	p := r.Publication
	switch {
	case p.SQL == "" && p.AllTables:
		fmt.Fprintf(out, "  publication  %s: all tables\n", p.Name)
	case p.SQL == "":
		fmt.Fprintf(out, "  publication  %s: covers every table the indexes read\n", p.Name)
	default:
		state := fmt.Sprintf("misses %d table%s", len(p.Missing), plural(len(p.Missing)))
		if !p.Exists {
			state = "does not exist"
		}
		who := "run this as a role that may"
		if p.Managed {
			who = "flusso will run this at start"
		}
		fmt.Fprintf(out, "  publication  %s: %s; %s:\n               %s\n", p.Name, state, who, p.SQL)
	}
	if r.Slot.Exists {
		active := ""
		if r.Slot.Active {
			active = ", in use"
		}
		fmt.Fprintf(out, "  slot         %s: exists (%s, database %s%s)\n", r.Slot.Name, r.Slot.Plugin, r.Slot.Database, active)
	} else {
		fmt.Fprintf(out, "  slot         %s: flusso will create it at start\n", r.Slot.Name)
	}
	width := 0
	for _, ix := range r.Indexes {
		width = max(width, len(ix.Name))
	}
	for _, ix := range r.Indexes {
		if !ix.Checked {
			fmt.Fprintf(out, "  index %-*s  disabled, not checked\n", width, ix.Name)
			continue
		}
		fmt.Fprintf(out, "  index %-*s  %d table%s, %d column%s checked\n", width, ix.Name, len(ix.Tables), plural(len(ix.Tables)), ix.Columns, plural(ix.Columns))
	}
	if len(r.Diagnostics) > 0 {
		fmt.Fprintln(out)
	}
	for _, d := range r.Diagnostics {
		fmt.Fprintf(out, "  %s\n", d)
	}
	errs, warns := len(r.Diagnostics.Errors()), len(r.Diagnostics.Warnings())
	switch {
	case errs > 0:
		fmt.Fprintf(errOut, "database: %d error%s, %d warning%s\n", errs, plural(errs), warns, plural(warns))
	case warns > 0:
		fmt.Fprintf(out, "\ndatabase: ok, %d warning%s (above)\n", warns, plural(warns))
	default:
		fmt.Fprintln(out, "\ndatabase: ok")
	}
}
