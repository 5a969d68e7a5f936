// Package config loads a flusso deployment — a flusso.toml and the
// *.schema.yml of each index — into one validated, typed model. It owns the
// configuration language: every key, default and rule, the errors that point
// at the file, line and field, and the JSON Schemas editors use. It does not
// talk to Postgres, NATS or OpenSearch; resolving secrets from the
// environment happens only when a caller asks for a value.
package config

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is a loaded, validated flusso.toml with its index schemas.
type Config struct {
	File string `json:"file"`
	// Dir is the folder schema paths are relative to.
	Dir     string   `json:"-"`
	Prefix  string   `json:"prefix"`
	OnError OnError  `json:"on_error"`
	Source  Source   `json:"source"`
	Sinks   []*Sink  `json:"sinks"` // sorted by name; never empty
	Indexes []*Index `json:"indexes"`
	Server  Server   `json:"server"`
	NATS    NATS     `json:"nats"`
	Capture Capture  `json:"capture"`
	Indexer Indexer  `json:"indexer"`
	Status  Status   `json:"status"`
}

// OnError is what a document rejected by a sink does.
type OnError string

const (
	OnErrorStop OnError = "stop"
	OnErrorSkip OnError = "skip"
)

// Source is the Postgres database the documents are built from.
type Source struct {
	Type              string     `json:"type"`
	Connection        Connection `json:"connection_url"`
	ManagePublication bool       `json:"manage_publication"`
}

// Connection is how to reach the source: a URL (literal or from the
// environment) or the parts of one.
type Connection struct {
	URL   Secret     // a literal URL or { env = "VAR" }; zero when Parts is set
	Parts *ConnParts // the parts-table form
}

// ConnParts is the parts-table form of connection_url.
type ConnParts struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	User     string `json:"user"`
	Password Secret `json:"password"`
	Database string `json:"database"`
}

// ReservedDatabaseURL overrides a literal connection_url.
const ReservedDatabaseURL = "DATABASE_URL"

// Resolve returns the connection URL. Precedence: an explicit { env } reference,
// then DATABASE_URL, then the literal URL or the parts; otherwise an error.
func (c Connection) Resolve(lookup LookupEnv) (string, error) {
	if c.Parts == nil || c.URL.env != "" {
		return c.URL.Resolve(lookup)
	}
	if v, ok, err := (Secret{reserved: ReservedDatabaseURL}).ResolveOptional(lookup); err != nil || ok {
		return v, err
	}
	p := c.Parts
	u := url.URL{Scheme: "postgres", Host: hostPort(p.Host, p.Port), Path: "/" + p.Database, RawPath: "/" + url.PathEscape(p.Database)}
	password, hasPassword, err := p.Password.ResolveOptional(lookup)
	if err != nil {
		return "", err
	}
	if hasPassword {
		u.User = url.UserPassword(p.User, password)
	} else {
		u.User = url.User(p.User)
	}
	return u.String(), nil
}

func hostPort(host string, port int) string {
	if len(host) > 0 && host[0] != '[' && strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	return host + ":" + strconv.Itoa(port)
}

// String describes the connection without any secret.
func (c Connection) String() string {
	if c.Parts == nil || c.URL.env != "" {
		return c.URL.String()
	}
	p := c.Parts
	u := url.URL{Scheme: "postgres", User: url.User(p.User), Host: hostPort(p.Host, p.Port), Path: "/" + p.Database, RawPath: "/" + url.PathEscape(p.Database)}
	s := u.String()
	if !p.Password.IsZero() {
		s += " (password " + p.Password.String() + ")"
	}
	return s
}

// MarshalJSON renders the safe description.
func (c Connection) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(c.String())), nil
}

// SinkType names a kind of sink.
type SinkType string

const (
	SinkOpenSearch SinkType = "opensearch"
	SinkStdout     SinkType = "stdout"
)

// Sink is one named destination of documents. Exactly one of OpenSearch and
// Stdout is set, per Type.
type Sink struct {
	Name       string          `json:"name"`
	Type       SinkType        `json:"type"`
	OpenSearch *OpenSearchSink `json:"opensearch,omitempty"`
	Stdout     *StdoutSink     `json:"stdout,omitempty"`
}

// TextAnalysis selects the analysis backend of the flusso analyzers.
type TextAnalysis string

const (
	AnalysisBuiltin TextAnalysis = "builtin"
	AnalysisICU     TextAnalysis = "icu"
)

// OpenSearchSink writes documents to an OpenSearch cluster.
type OpenSearchSink struct {
	URL              Secret       `json:"url"`
	Username         Secret       `json:"username"`
	Password         Secret       `json:"password"`
	TLSVerify        bool         `json:"tls_verify"`
	BatchSize        int          `json:"batch_size"`
	MaxBytes         int          `json:"max_bytes"`
	Timeout          Duration     `json:"timeout"`
	MaxRetries       int          `json:"max_retries"`
	Pipeline         string       `json:"pipeline,omitempty"`
	NumberOfShards   int          `json:"number_of_shards"`
	NumberOfReplicas int          `json:"number_of_replicas"`
	RefreshInterval  string       `json:"refresh_interval"`
	TextAnalysis     TextAnalysis `json:"text_analysis"`
	AutoSubfields    bool         `json:"auto_subfields"`
	// TLS comes from [sink_tls.<name>] and the reserved variables, not from
	// [sinks.<name>], whose keys are the Rust format's.
	TLS SinkTLS `json:"tls,omitzero"`
}

// SinkTLS are the TLS files of an opensearch sink (a flusso extension). The
// paths are resolved (a relative one from the file is joined to the
// config's folder) but the files are read only when the sink is built.
type SinkTLS struct {
	// CAFile holds the PEM certificates that verify the cluster; when set
	// they are the only roots trusted, the system's are not consulted.
	CAFile string `json:"ca_file,omitempty"`
	// CertFile and KeyFile are the client certificate and its key for
	// mutual TLS: both or neither.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
}

// StdoutSink prints one JSON line per document operation.
type StdoutSink struct {
	Pretty bool `json:"pretty"`
}

// Index is one [[index]] entry with its loaded schema.
type Index struct {
	Name string `json:"name"`
	// SchemaFile is the path as written; SchemaPath is resolved against the
	// config's folder.
	SchemaFile string  `json:"schema"`
	SchemaPath string  `json:"-"`
	Enabled    bool    `json:"enabled"`
	OnError    OnError `json:"on_error"` // the per-index override or the global policy
	Schema     *Schema `json:"-"`
	// SchemaSource is the schema file's content as loaded: the capture keeps
	// it so that indexers can still build the documents of a generation
	// whose schema the config has since changed.
	SchemaSource []byte `json:"-"`
}

// Server holds the addresses of the HTTP surfaces.
type Server struct {
	PublicAddress  string `json:"public_address"`
	PrivateAddress string `json:"private_address"`
}

// NATS configures the message bus (a flusso extension).
type NATS struct {
	// URL of an external NATS; empty runs an embedded server.
	URL             string   `json:"url"`
	Pipeline        string   `json:"pipeline"` // subject and stream scope; empty: the slot name
	Credentials     string   `json:"credentials,omitempty"`
	TLSCAFile       string   `json:"tls_ca_file,omitempty"`
	TLSCertFile     string   `json:"tls_cert_file,omitempty"`
	TLSKeyFile      string   `json:"tls_key_file,omitempty"`
	DataDir         string   `json:"data_dir"`
	Listen          string   `json:"listen"`
	StreamReplicas  int      `json:"stream_replicas"`
	MaxAge          Duration `json:"max_age"`
	MaxBytes        int64    `json:"max_bytes"`
	DuplicateWindow Duration `json:"duplicate_window"`
}

// Capture configures the capture service (a flusso extension).
type Capture struct {
	Slot          string   `json:"slot"`
	Publication   string   `json:"publication"`
	LagInterval   Duration `json:"lag_interval"`
	PublishWindow int      `json:"publish_window"`
	BackfillChunk int      `json:"backfill_chunk"`
	StandbyRetry  Duration `json:"standby_retry"`
}

// Indexer configures the indexer service (a flusso extension).
type Indexer struct {
	BatchSize     int      `json:"batch_size"`
	BatchWait     Duration `json:"batch_wait"`
	Concurrency   int      `json:"concurrency"`
	AckWait       Duration `json:"ack_wait"`
	MaxAckPending int      `json:"max_ack_pending"`
	MaxDeliver    int      `json:"max_deliver"`
}

// Status configures the status service (a flusso extension): the
// credentials of its private surface. Bearer token and HTTP Basic may both
// be set; either is then accepted.
type Status struct {
	Token    Secret `json:"token"`
	Username Secret `json:"username"`
	Password Secret `json:"password"`
}

// Pipeline is the name scoping this deployment's NATS subjects and streams.
func (c *Config) Pipeline() string {
	if c.NATS.Pipeline != "" {
		return c.NATS.Pipeline
	}
	return c.Capture.Slot
}

// EnabledIndexes names the enabled indexes, in file order.
func (c *Config) EnabledIndexes() []string {
	var out []string
	for _, ix := range c.Indexes {
		if ix.Enabled {
			out = append(out, ix.Name)
		}
	}
	return out
}

// Index returns the index named name, or nil.
func (c *Config) Index(name string) *Index {
	for _, ix := range c.Indexes {
		if ix.Name == name {
			return ix
		}
	}
	return nil
}

// Duration is a time.Duration that prints as "10s" in JSON.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON renders the Go duration text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(d.String())), nil
}

// IndexNames are the OpenSearch names of one index.
type IndexNames struct {
	Alias     string `json:"alias"`      // {prefix}{name}: what readers query
	HashAlias string `json:"hash_alias"` // {prefix}{name}_{hash}: the schema's current generation
	Hash      string `json:"hash"`
}

// Generation is the name of generation n of the index.
func (n IndexNames) Generation(gen int) string { return n.HashAlias + "_" + strconv.Itoa(gen) }

// Names returns the OpenSearch names of ix.
func (c *Config) Names(ix *Index) IndexNames {
	h := ix.Schema.Hash()
	return IndexNames{Alias: c.Prefix + ix.Name, HashAlias: c.Prefix + ix.Name + "_" + h, Hash: h}
}

// MetaIndex is the name of the index holding flusso's per-index state.
func (c *Config) MetaIndex() string { return c.Prefix + "flusso_meta" }
