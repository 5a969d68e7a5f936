package config

// The keys of flusso.toml outside the settings of Settings(): the tables of
// the Rust flusso's format, and [sink_tls.<name>], a flusso extension kept
// out of [sinks.<name>] so that table stays as the Rust format has it. The
// loader checks keys against these lists and the JSON Schema is generated
// from them.

var topKeys = []string{"prefix", "on_error", "source", "sinks", "sink_tls", "index", "server", "nats", "capture", "indexer", "status"}

var (
	sourceKeys = []keySpec{
		{"type", vString, `The source type; only "postgres".`},
		{"connection_url", vAny, "How to connect: a postgres:// URL, { env = \"VAR\" }, or a table of parts. DATABASE_URL overrides a literal."},
		{"manage_publication", vBool, "Whether flusso may create or extend the publication to cover every table the indexes read (default true)."},
	}
	connPartsKeys = []keySpec{
		{"host", vString, "Database host (default 127.0.0.1)."},
		{"port", vPositive, "Database port (default 5432)."},
		{"user", vString, "Database user (default postgres)."},
		{"password", vAny, "Database password: a string or { env = \"VAR\" }."},
		{"database", vString, "Database name (required)."},
	}
	openSearchKeys = []keySpec{
		{"type", vString, `"opensearch".`},
		{"url", vAny, "Base URL of the cluster, a string or { env = \"VAR\" }; <SINK>_OPENSEARCH_URL overrides a literal."},
		{"username", vAny, "HTTP Basic user; <SINK>_OPENSEARCH_USERNAME overrides a literal."},
		{"password", vAny, "HTTP Basic password; <SINK>_OPENSEARCH_PASSWORD overrides a literal."},
		{"tls_verify", vBool, "Verify TLS certificates (default true)."},
		{"batch_size", vPositive, "Documents per bulk request, at most (default 1000)."},
		{"max_bytes", vPositive, "Bytes per bulk request, at most (default 10485760)."},
		{"timeout_secs", vPositive, "HTTP request timeout in seconds (default 30)."},
		{"max_retries", vInt, "Retries of a failed request with backoff (default 3)."},
		{"pipeline", vString, "Ingest pipeline applied to every write."},
		{"number_of_shards", vPositive, "Primary shards of each created index (default 1)."},
		{"number_of_replicas", vInt, "Replica shards of each created index (default 1)."},
		{"refresh_interval", vString, "refresh_interval once seeded (default \"10s\"; \"-1\" disables)."},
		{"text_analysis", vString, "Analysis backend of the flusso analyzers: builtin (default) or icu (needs the analysis-icu plugin)."},
		{"auto_subfields", vBool, "Give text and keyword fields their keyword, keyword_lowercase and text subfields (default true)."},
	}
	// sinkTLSKeys are the keys of [sink_tls.<name>]; the reserved variable
	// overriding each is <SINK>_OPENSEARCH_<KEY>.
	sinkTLSKeys = []keySpec{
		{"ca_file", vString, "PEM file of the CA certificates that verify the cluster; when set they are the only roots trusted (the system's are not). Relative to this file; <SINK>_OPENSEARCH_CA_FILE overrides it."},
		{"cert_file", vString, "PEM client certificate (chain) for mutual TLS; needs key_file. <SINK>_OPENSEARCH_CERT_FILE overrides it."},
		{"key_file", vString, "PEM private key of cert_file; needs cert_file. <SINK>_OPENSEARCH_KEY_FILE overrides it."},
	}
	stdoutKeys = []keySpec{
		{"type", vString, `"stdout".`},
		{"pretty", vBool, "Indent the JSON (default false)."},
	}
	indexKeys = []keySpec{
		{"name", vIdent, "Name of the index (and of its OpenSearch alias)."},
		{"schema", vString, "Path of the index's *.schema.yml, relative to this file."},
		{"enabled", vBool, "Whether the index is built (default true)."},
		{"on_error", vString, "Override of the global on_error for this index: stop or skip."},
	}
)
