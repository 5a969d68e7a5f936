package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// settingFlags registers a flag for every config setting on fs and returns a
// function collecting the ones the user set.
func settingFlags(fs *pflag.FlagSet) func() map[string]string {
	values := map[string]*string{}
	for _, s := range config.Settings() {
		values[s.Key] = fs.String(s.Flag, "", fmt.Sprintf("%s [%s] (env %s, default %q)", s.Doc, s.TypeName(), s.Env, s.Default))
	}
	return func() map[string]string {
		out := map[string]string{}
		for _, s := range config.Settings() {
			if fs.Changed(s.Flag) {
				out[s.Key] = *values[s.Key]
			}
		}
		return out
	}
}

func configFlag(fs *pflag.FlagSet) *string {
	def := "flusso.toml"
	if v, ok := os.LookupEnv("FLUSSO_CONFIG"); ok {
		def = v
	}
	return fs.StringP("config", "c", def, "path of flusso.toml (env FLUSSO_CONFIG)")
}

func newCheck() *cobra.Command {
	var (
		offline bool
		format  string
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate flusso.toml and the index schemas, and print each index's field tree",
		Args:  cobra.NoArgs,
	}
	path := configFlag(cmd.Flags())
	cmd.Flags().BoolVar(&offline, "offline", false, "check the files only, without connecting to the database")
	cmd.Flags().StringVar(&format, "format", "human", "output format: human or json")
	flags := settingFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if format != "human" && format != "json" {
			return usageError("--format must be human or json, not %q", format)
		}
		if !offline {
			return usageError("checking against the database is not available in this version: run flusso check --offline")
		}
		cfg, diags := config.Load(*path, config.Options{Flags: flags()})
		out := cmd.OutOrStdout()
		if format == "json" {
			if err := writeCheckJSON(out, cfg, diags); err != nil {
				return err
			}
		} else {
			writeCheckHuman(out, cmd.ErrOrStderr(), *path, cfg, diags)
		}
		if diags.Err() != nil {
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

func writeCheckJSON(w io.Writer, cfg *config.Config, diags config.Diagnostics) error {
	report := struct {
		OK          bool               `json:"ok"`
		Config      *config.Config     `json:"config,omitempty"`
		Indexes     []checkIndex       `json:"indexes"`
		Diagnostics config.Diagnostics `json:"diagnostics"`
	}{OK: diags.Err() == nil, Config: cfg, Indexes: []checkIndex{}, Diagnostics: diags}
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
