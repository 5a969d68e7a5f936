package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Load reads a flusso.toml and every index schema it names. The returned
// diagnostics hold every error and warning found; the config is nil when
// there is an error.
func Load(path string, o Options) (*Config, Diagnostics) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Diagnostics{{Severity: SeverityError, Position: Position{File: path}, Message: readError(err)}}
	}
	return Parse(path, data, o, os.ReadFile)
}

func readError(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "file not found"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// Parse is Load on bytes already read; readFile reads the schemas (relative
// paths are joined to file's folder).
func Parse(file string, data []byte, o Options, readFile func(string) ([]byte, error)) (*Config, Diagnostics) {
	var diags Diagnostics
	l := &tomlLoader{c: collector{file: file, diags: &diags}, opts: o}
	cfg := l.load(data)
	if cfg != nil {
		for _, ix := range cfg.Indexes {
			l.loadSchema(ix, readFile)
		}
		l.crossChecks(cfg)
	}
	if diags.Err() != nil {
		return nil, diags
	}
	return cfg, diags
}

type tomlLoader struct {
	c    collector
	opts Options
	// declaredSinks are the names of [sinks] entries, loaded or not: a
	// [sink_tls] of a sink that failed to load is not reported again.
	declaredSinks map[string]bool
}

func (l *tomlLoader) env() LookupEnv {
	if l.opts.Env != nil {
		return l.opts.Env
	}
	return os.LookupEnv
}

func (l *tomlLoader) errorf(path, format string, args ...any) {
	l.c.errorf(Position{}, path, format, args...)
}

func (l *tomlLoader) load(data []byte) *Config {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			l.c.errorf(Position{Line: line, Column: col}, strings.Join(de.Key(), "."), "invalid TOML: %s", de.Error())
		} else {
			l.c.errorf(Position{Line: 1}, "", "invalid TOML: %v", err)
		}
		return nil
	}
	cfg := &Config{File: l.c.file, Dir: filepath.Dir(l.c.file)}
	l.knownKeys(doc, "", topKeys, "flusso.toml")
	l.settings(cfg, doc)
	l.source(cfg, doc["source"])
	l.sinks(cfg, doc["sinks"])
	l.sinkTLS(cfg, doc["sink_tls"])
	l.indexes(cfg, doc["index"])
	return cfg
}

// knownKeys reports keys outside allowed, with a suggestion.
func (l *tomlLoader) knownKeys(m map[string]any, path string, allowed []string, what string) {
	for _, k := range sortedKeys(m) {
		if contains(allowed, k) {
			continue
		}
		hint := didYouMean(k, allowed)
		if hint == "" {
			hint = "expected one of " + quotedList(allowed)
		}
		l.c.hintf(Position{}, join(path, k), hint, "unknown key %q in %s", k, what)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (l *tomlLoader) table(v any, path string) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		l.errorf(path, "expected a table, found %s", tomlDescribe(v))
	}
	return m, ok
}

// tomlValue quotes a string and describes anything else.
func tomlValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return tomlDescribe(v)
}

func tomlDescribe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	case int64, float64:
		return fmt.Sprintf("the number %v", x)
	case map[string]any:
		return "a table"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// settings applies every setting: flag, environment, file, default.
func (l *tomlLoader) settings(cfg *Config, doc map[string]any) {
	tables := map[string]map[string]any{"": doc}
	for _, name := range []string{"server", "nats", "capture", "indexer", "status"} {
		raw, present := doc[name]
		if !present {
			continue
		}
		if m, ok := l.table(raw, name); ok {
			tables[name] = m
			var keys []string
			for _, s := range Settings() {
				if strings.HasPrefix(s.Key, name+".") {
					keys = append(keys, strings.TrimPrefix(s.Key, name+"."))
				}
			}
			l.knownKeys(m, name, keys, "["+name+"]")
		}
	}
	env := l.env()
	for _, s := range Settings() {
		table, key := "", s.Key
		if i := strings.IndexByte(s.Key, '.'); i >= 0 {
			table, key = s.Key[:i], s.Key[i+1:]
		}
		var (
			raw      any
			fromText bool
			source   = s.Key
		)
		if v, ok := l.opts.Flags[s.Key]; ok {
			raw, fromText, source = v, true, "--"+s.Flag
		} else if v, ok := env(s.Env); ok {
			raw, fromText, source = v, true, s.Env
		} else if v, ok := tables[table][key]; ok {
			raw = v
		} else {
			raw, fromText = s.Default, true
		}
		v, err := s.parse(raw, fromText)
		if err != nil {
			l.errorf(source, "%v", err)
			continue
		}
		s.set(cfg, v)
	}
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9'
}

var urlPattern = regexp.MustCompile(`^(postgresql|postgres)://\S+$`)

func (l *tomlLoader) source(cfg *Config, raw any) {
	cfg.Source = Source{Type: "postgres", ManagePublication: true, Connection: Connection{URL: Secret{reserved: ReservedDatabaseURL, path: "source.connection_url"}}}
	if raw == nil {
		l.errorf("source", "missing the [source] table (type = \"postgres\" and connection_url)")
		return
	}
	m, ok := l.table(raw, "source")
	if !ok {
		return
	}
	l.knownKeys(m, "source", keyNames(sourceKeys), "[source]")
	switch t := m["type"].(type) {
	case nil:
		l.errorf("source.type", "missing: the only source type is \"postgres\"")
	case string:
		if t != "postgres" {
			l.c.hintf(Position{}, "source.type", orList(didYouMean(t, []string{"postgres"}), `the only source type is "postgres"`), "unknown source type %q", t)
		}
	default:
		l.errorf("source.type", "expected \"postgres\", found %s", tomlDescribe(t))
	}
	if v, ok := m["manage_publication"]; ok {
		cfg.Source.ManagePublication = l.boolean(v, "source.manage_publication")
	}
	if v, ok := m["connection_url"]; ok {
		cfg.Source.Connection = l.connection(v)
	}
}

func (l *tomlLoader) boolean(v any, path string) bool {
	b, ok := v.(bool)
	if !ok {
		l.errorf(path, "expected true or false, found %s", tomlDescribe(v))
	}
	return b
}

func (l *tomlLoader) connection(v any) Connection {
	const path = "source.connection_url"
	switch x := v.(type) {
	case string:
		if !urlPattern.MatchString(x) {
			l.c.hintf(Position{}, path, "e.g. postgres://user@127.0.0.1:5432/shop", "expected a postgres:// or postgresql:// URL")
		}
		s := l.secret(x, path, ReservedDatabaseURL)
		s.display = redactURL(x)
		return Connection{URL: s}
	case map[string]any:
		if _, isEnv := x["env"]; isEnv {
			return Connection{URL: l.secret(x, path, ReservedDatabaseURL)}
		}
		l.knownKeys(x, path, keyNames(connPartsKeys), "the connection parts (or { env = \"VAR\" })")
		p := &ConnParts{Host: "127.0.0.1", Port: 5432, User: "postgres"}
		p.Host = l.optString(x, "host", path, p.Host)
		p.User = l.optString(x, "user", path, p.User)
		p.Database = l.optString(x, "database", path, "")
		if _, ok := x["database"]; !ok {
			l.errorf(path+".database", "missing: the parts form needs the database name")
		}
		if raw, ok := x["port"]; ok {
			if n, isInt := raw.(int64); !isInt || n < 1 || n > 65535 {
				l.errorf(path+".port", "expected a port number between 1 and 65535, found %s", tomlDescribe(raw))
			} else {
				p.Port = int(n)
			}
		}
		if raw, ok := x["password"]; ok {
			p.Password = l.secret(raw, path+".password", "")
		}
		return Connection{URL: Secret{reserved: ReservedDatabaseURL, path: path}, Parts: p}
	}
	l.errorf(path, "expected a URL string, { env = \"VAR\" } or a table of parts, found %s", tomlDescribe(v))
	return Connection{}
}

func (l *tomlLoader) optString(m map[string]any, key, path, def string) string {
	raw, ok := m[key]
	if !ok {
		return def
	}
	s, ok := raw.(string)
	if !ok {
		l.errorf(join(path, key), "expected a string, found %s", tomlDescribe(raw))
		return def
	}
	return s
}

// secret reads a literal string or { env = "VAR" }.
func (l *tomlLoader) secret(v any, path, reserved string) Secret {
	s := Secret{reserved: reserved, path: path}
	switch x := v.(type) {
	case string:
		s.literal, s.hasLiteral = x, true
	case map[string]any:
		l.knownKeys(x, path, []string{"env"}, "an environment reference")
		name, ok := x["env"].(string)
		if !ok || strings.TrimSpace(name) == "" {
			l.errorf(path+".env", "expected the name of an environment variable")
			return s
		}
		s.env = strings.TrimSpace(name)
	default:
		l.errorf(path, "expected a string or { env = \"VAR\" }, found %s", tomlDescribe(v))
	}
	return s
}

var refreshPattern = regexp.MustCompile(`^(-1|0|[0-9]+(d|h|m|s|ms|micros|nanos))$`)

func (l *tomlLoader) sinks(cfg *Config, raw any) {
	defer func() {
		if len(cfg.Sinks) == 0 {
			cfg.Sinks = []*Sink{{Name: "stdout", Type: SinkStdout, Stdout: &StdoutSink{}}}
		}
	}()
	if raw == nil {
		return
	}
	m, ok := l.table(raw, "sinks")
	if !ok {
		return
	}
	seen := map[string]string{}
	for _, name := range sortedKeys(m) {
		path := "sinks." + name
		id, err := normalizeIdent(name)
		if err != nil {
			l.errorf(path, "sink name: %v", err)
			continue
		}
		if other, dup := seen[id]; dup {
			l.errorf(path, "sinks %q and %q are the same name once lower-cased", other, name)
			continue
		}
		seen[id] = name
		if l.declaredSinks == nil {
			l.declaredSinks = map[string]bool{}
		}
		l.declaredSinks[id] = true
		tm, ok := l.table(m[name], path)
		if !ok {
			continue
		}
		sink := &Sink{Name: id}
		t, _ := tm["type"].(string)
		switch SinkType(t) {
		case SinkOpenSearch:
			sink.Type = SinkOpenSearch
			l.knownKeys(tm, path, keyNames(openSearchKeys), "an opensearch sink")
			sink.OpenSearch = l.openSearch(tm, path, strings.ToUpper(id))
		case SinkStdout:
			sink.Type = SinkStdout
			l.knownKeys(tm, path, keyNames(stdoutKeys), "a stdout sink")
			sink.Stdout = &StdoutSink{}
			if v, ok := tm["pretty"]; ok {
				sink.Stdout.Pretty = l.boolean(v, path+".pretty")
			}
		default:
			if _, has := tm["type"]; !has {
				l.errorf(path+".type", `missing: "opensearch" or "stdout"`)
			} else {
				l.c.hintf(Position{}, path+".type", orList(didYouMean(t, []string{"opensearch", "stdout"}), `expected "opensearch" or "stdout"`), "unknown sink type %s", tomlValue(tm["type"]))
			}
			continue
		}
		cfg.Sinks = append(cfg.Sinks, sink)
	}
	sort.Slice(cfg.Sinks, func(i, j int) bool { return cfg.Sinks[i].Name < cfg.Sinks[j].Name })
}

func (l *tomlLoader) openSearch(m map[string]any, path, upper string) *OpenSearchSink {
	o := &OpenSearchSink{
		TLSVerify: true, BatchSize: 1000, MaxBytes: 10485760, Timeout: Duration(30e9), MaxRetries: 3,
		NumberOfShards: 1, NumberOfReplicas: 1, RefreshInterval: "10s", TextAnalysis: AnalysisBuiltin, AutoSubfields: true,
		URL:      Secret{reserved: upper + "_OPENSEARCH_URL", path: path + ".url"},
		Username: Secret{reserved: upper + "_OPENSEARCH_USERNAME", path: path + ".username"},
		Password: Secret{reserved: upper + "_OPENSEARCH_PASSWORD", path: path + ".password"},
	}
	if v, ok := m["url"]; ok {
		o.URL = l.secret(v, path+".url", o.URL.reserved)
		if s, isLiteral := v.(string); isLiteral {
			if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
				l.c.hintf(Position{}, path+".url", "e.g. http://127.0.0.1:9200", "expected an http:// or https:// URL")
			}
			o.URL.display = redactURL(s)
		}
	}
	if v, ok := m["username"]; ok {
		o.Username = l.secret(v, path+".username", o.Username.reserved)
	}
	if v, ok := m["password"]; ok {
		o.Password = l.secret(v, path+".password", o.Password.reserved)
	}
	ints := []struct {
		key string
		min int64
		dst *int
	}{
		{"batch_size", 1, &o.BatchSize}, {"max_bytes", 1, &o.MaxBytes}, {"max_retries", 0, &o.MaxRetries},
		{"number_of_shards", 1, &o.NumberOfShards}, {"number_of_replicas", 0, &o.NumberOfReplicas},
	}
	for _, i := range ints {
		if v, ok := m[i.key]; ok {
			if n, isInt := v.(int64); !isInt || n < i.min || n > 1<<31-1 {
				l.errorf(path+"."+i.key, "expected a whole number from %d to %d, found %s", i.min, 1<<31-1, tomlDescribe(v))
			} else {
				*i.dst = int(n)
			}
		}
	}
	if v, ok := m["timeout_secs"]; ok {
		if n, isInt := v.(int64); !isInt || n < 1 || n > 86400 {
			l.errorf(path+".timeout_secs", "expected a number of seconds from 1 to 86400, found %s", tomlDescribe(v))
		} else {
			o.Timeout = Duration(n * 1e9)
		}
	}
	if v, ok := m["tls_verify"]; ok {
		o.TLSVerify = l.boolean(v, path+".tls_verify")
	}
	if v, ok := m["auto_subfields"]; ok {
		o.AutoSubfields = l.boolean(v, path+".auto_subfields")
	}
	o.Pipeline = l.optString(m, "pipeline", path, "")
	o.RefreshInterval = l.optString(m, "refresh_interval", path, o.RefreshInterval)
	if !refreshPattern.MatchString(o.RefreshInterval) {
		l.c.hintf(Position{}, path+".refresh_interval", `e.g. "1s", "30s" or "-1" to disable`, "%q is not an OpenSearch time value", o.RefreshInterval)
	}
	if v, ok := m["text_analysis"]; ok {
		s, _ := v.(string)
		switch TextAnalysis(s) {
		case AnalysisBuiltin, AnalysisICU:
			o.TextAnalysis = TextAnalysis(s)
		default:
			l.c.hintf(Position{}, path+".text_analysis", orList(didYouMean(s, []string{"builtin", "icu"}), `expected "builtin" or "icu"`), "unknown text analysis %s", tomlValue(v))
		}
	}
	return o
}

// sinkTLS reads [sink_tls.<name>] and the reserved variables of the TLS
// files into each opensearch sink. Unlike secrets, paths are resolved at
// load time: they are not sensitive, and check can then show and validate
// what the sink will read.
func (l *tomlLoader) sinkTLS(cfg *Config, raw any) {
	tables := map[string]map[string]any{}
	paths := map[string]string{}
	if raw != nil {
		if m, ok := l.table(raw, "sink_tls"); ok {
			l.sinkTLSTables(cfg, m, tables, paths)
		}
	}
	for _, s := range cfg.Sinks {
		if s.OpenSearch != nil {
			l.resolveTLS(cfg, s, tables[s.Name], paths[s.Name])
		}
	}
}

// sinkTLSTables checks each [sink_tls.<name>] and collects the tables of
// opensearch sinks by sink name.
func (l *tomlLoader) sinkTLSTables(cfg *Config, m map[string]any, tables map[string]map[string]any, paths map[string]string) {
	var names []string
	for _, s := range cfg.Sinks {
		names = append(names, s.Name)
	}
	seen := map[string]string{}
	for _, name := range sortedKeys(m) {
		path := "sink_tls." + name
		id, err := normalizeIdent(name)
		if err != nil {
			l.errorf(path, "sink name: %v", err)
			continue
		}
		if other, dup := seen[id]; dup {
			l.errorf(path, "[sink_tls.%s] and [sink_tls.%s] are the same sink once lower-cased", other, name)
			continue
		}
		seen[id] = name
		tm, ok := l.table(m[name], path)
		if !ok {
			continue
		}
		l.knownKeys(tm, path, keyNames(sinkTLSKeys), "[sink_tls."+name+"]")
		var sink *Sink
		for _, s := range cfg.Sinks {
			if s.Name == id {
				sink = s
			}
		}
		switch {
		case sink == nil && l.declaredSinks[id]:
			// Its [sinks] entry has its own error already.
		case sink == nil:
			l.c.hintf(Position{}, path, orList(didYouMean(id, names), "the sinks are "+quotedList(names)),
				"[sink_tls.%s] names no sink: there is no [sinks.%s]", name, id)
		case sink.Type != SinkOpenSearch:
			l.errorf(path, "sink %q is a %s sink: TLS files apply to opensearch sinks only", id, sink.Type)
		default:
			tables[id], paths[id] = tm, path
		}
	}
}

// resolveTLS sets the TLS files of an opensearch sink. Precedence, as for
// the sink's other reserved variables: <SINK>_OPENSEARCH_<KEY> over the
// table's value. A relative path from the file is relative to the config's
// folder; one from the environment is left as given (relative to the
// working directory, like any path handed to a process).
func (l *tomlLoader) resolveTLS(cfg *Config, s *Sink, tm map[string]any, path string) {
	env, upper := l.env(), strings.ToUpper(s.Name)
	values := map[string]string{}
	from := map[string]string{} // key → where its value came from, for diagnostics
	for _, k := range sinkTLSKeys {
		// The file's value is checked even when a variable overrides it.
		if raw, ok := tm[k.name]; ok {
			str, isStr := raw.(string)
			switch {
			case !isStr:
				l.errorf(join(path, k.name), "expected the path of a PEM file, found %s", tomlDescribe(raw))
			case strings.TrimSpace(str) == "":
				l.errorf(join(path, k.name), "expected the path of a PEM file, found an empty string")
			case filepath.IsAbs(str):
				values[k.name], from[k.name] = str, join(path, k.name)
			default:
				values[k.name], from[k.name] = filepath.Join(cfg.Dir, str), join(path, k.name)
			}
		}
		// An empty variable counts as unset, so it cannot silently drop a
		// file the config names.
		reserved := upper + "_OPENSEARCH_" + strings.ToUpper(k.name)
		if v, ok := env(reserved); ok && v != "" {
			values[k.name], from[k.name] = v, reserved
		}
	}
	t := SinkTLS{CAFile: values["ca_file"], CertFile: values["cert_file"], KeyFile: values["key_file"]}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		l.c.hintf(Position{}, from["cert_file"], fmt.Sprintf("set key_file in [sink_tls.%s] or %s_OPENSEARCH_KEY_FILE", s.Name, upper),
			"sink %q: a client certificate needs its private key", s.Name)
	case t.KeyFile != "" && t.CertFile == "":
		l.c.hintf(Position{}, from["key_file"], fmt.Sprintf("set cert_file in [sink_tls.%s] or %s_OPENSEARCH_CERT_FILE", s.Name, upper),
			"sink %q: a client key needs its certificate", s.Name)
	}
	if t.CAFile != "" && !s.OpenSearch.TLSVerify {
		l.c.warnf(Position{}, from["ca_file"], "sink %q has tls_verify = false: certificates are not verified, so the CA file is unused", s.Name)
	}
	s.OpenSearch.TLS = t
}

func (l *tomlLoader) indexes(cfg *Config, raw any) {
	if raw == nil {
		l.c.hintf(Position{}, "index", "add an [[index]] with name and schema", "no index is configured")
		return
	}
	list, ok := raw.([]any)
	if !ok {
		l.errorf("index", "expected an array of tables ([[index]]), found %s", tomlDescribe(raw))
		return
	}
	if len(list) == 0 {
		l.c.hintf(Position{}, "index", "add an [[index]] with name and schema", "no index is configured")
		return
	}
	seen := map[string]bool{}
	for i, item := range list {
		path := fmt.Sprintf("index[%d]", i)
		m, ok := l.table(item, path)
		if !ok {
			continue
		}
		l.knownKeys(m, path, keyNames(indexKeys), "an [[index]]")
		ix := &Index{Enabled: true, OnError: cfg.OnError}
		rawName, hasName := m["name"]
		name, isStr := rawName.(string)
		switch {
		case !hasName:
			l.errorf(path+".name", "missing: every index needs a name")
			continue
		case !isStr:
			l.errorf(path+".name", "expected a string, found %s", tomlDescribe(rawName))
			continue
		}
		id, err := normalizeIdent(name)
		if err != nil {
			l.errorf(path+".name", "%v", err)
			continue
		}
		ix.Name = id
		path = fmt.Sprintf("index[%d] (%s)", i, ix.Name)
		if seen[ix.Name] {
			l.errorf(path+".name", "index %q is declared twice", ix.Name)
			continue
		}
		seen[ix.Name] = true
		_, hasSchema := m["schema"]
		ix.SchemaFile = l.optString(m, "schema", path, "")
		switch {
		case !hasSchema:
			l.errorf(path+".schema", "missing: the path of the index's *.schema.yml")
		case ix.SchemaFile == "":
		case !strings.HasSuffix(ix.SchemaFile, ".yml") && !strings.HasSuffix(ix.SchemaFile, ".yaml"):
			l.errorf(path+".schema", "%q is not a .yml or .yaml file", ix.SchemaFile)
		default:
			ix.SchemaPath = ix.SchemaFile
			if !filepath.IsAbs(ix.SchemaFile) {
				ix.SchemaPath = filepath.Join(cfg.Dir, ix.SchemaFile)
			}
		}
		if v, ok := m["enabled"]; ok {
			if b, isBool := v.(bool); isBool {
				ix.Enabled = b
			} else {
				l.errorf(path+".enabled", "expected true or false, found %s", tomlDescribe(v))
			}
		}
		if v, ok := m["on_error"]; ok {
			s, _ := v.(string)
			switch OnError(s) {
			case OnErrorStop, OnErrorSkip:
				ix.OnError = OnError(s)
			default:
				l.c.hintf(Position{}, path+".on_error", orList(didYouMean(s, []string{"stop", "skip"}), `expected "stop" or "skip"`), "unknown policy %s", tomlValue(v))
			}
		}
		cfg.Indexes = append(cfg.Indexes, ix)
	}
}

func (l *tomlLoader) loadSchema(ix *Index, readFile func(string) ([]byte, error)) {
	if ix.SchemaPath == "" {
		return
	}
	data, err := readFile(ix.SchemaPath)
	if err != nil {
		l.c.errorf(Position{File: ix.SchemaPath}, ix.Name, "cannot read the schema of index %q: %s", ix.Name, readError(err))
		return
	}
	s, diags := ParseSchema(ix.SchemaPath, data, ix.Name)
	*l.c.diags = append(*l.c.diags, diags...)
	ix.Schema, ix.SchemaSource = s, data
}

// crossChecks are the rules spanning several parts of the file.
func (l *tomlLoader) crossChecks(cfg *Config) {
	// Port 0 asks the kernel for a free port: two such addresses differ.
	if a := cfg.Server.PublicAddress; a != "" && a == cfg.Server.PrivateAddress && !strings.HasSuffix(a, ":0") {
		l.errorf("server", "public_address and private_address are both %s: the private surface needs its own address", cfg.Server.PublicAddress)
	}
	if st := cfg.Status; st.Username.IsZero() != st.Password.IsZero() {
		l.errorf("status", "username and password go together: HTTP Basic needs both (or set only token)")
	}
	enabled := 0
	for _, ix := range cfg.Indexes {
		if ix.Enabled {
			enabled++
		}
	}
	if len(cfg.Indexes) > 0 && enabled == 0 {
		l.c.warnf(Position{}, "index", "every index is disabled: the pipeline has nothing to do")
	}
}
