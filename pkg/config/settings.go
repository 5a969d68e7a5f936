package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Setting is one scalar setting that also has a command-line flag and a
// FLUSSO_* environment twin. Precedence: flag > environment > file > default.
type Setting struct {
	Key     string // dotted key in flusso.toml, e.g. indexer.batch_size
	Flag    string // e.g. indexer-batch-size
	Env     string // e.g. FLUSSO_INDEXER_BATCH_SIZE
	Doc     string
	Default string
	kind    settingKind
	enum    []string
	min     int64
	check   func(string) error // further rules of a string setting
	set     func(c *Config, v any)
}

type settingKind int

const (
	kString settingKind = iota
	kInt
	kDuration
	kEnum
	kIdent
	kSecret
)

// TypeName names the value type for help texts.
func (s Setting) TypeName() string {
	switch s.kind {
	case kInt:
		return "integer"
	case kDuration:
		return "duration"
	case kEnum:
		return strings.Join(s.enum, "|")
	}
	return "string"
}

func stringSetting(key, def, doc string, set func(*Config, string)) Setting {
	return Setting{Key: key, Default: def, Doc: doc, kind: kString, set: func(c *Config, v any) { set(c, v.(string)) }}
}

func identSetting(key, def, doc string, set func(*Config, string)) Setting {
	s := stringSetting(key, def, doc, set)
	s.kind = kIdent
	return s
}

func intSetting(key string, def, min int64, doc string, set func(*Config, int64)) Setting {
	return Setting{Key: key, Default: strconv.FormatInt(def, 10), Doc: doc, kind: kInt, min: min, set: func(c *Config, v any) { set(c, v.(int64)) }}
}

func durationSetting(key, def, doc string, set func(*Config, Duration)) Setting {
	return Setting{Key: key, Default: def, Doc: doc, kind: kDuration, set: func(c *Config, v any) { set(c, v.(Duration)) }}
}

func enumSetting(key, def string, values []string, doc string, set func(*Config, string)) Setting {
	return Setting{Key: key, Default: def, Doc: doc, kind: kEnum, enum: values, set: func(c *Config, v any) { set(c, v.(string)) }}
}

// secretSetting is a sensitive string, kept as a Secret so that no log,
// error, status or check output shows it. In the file it is a string or
// { env = "VAR" }; from a flag or its FLUSSO_* twin, the text itself. An
// empty value means unset.
func secretSetting(key, doc string, set func(*Config, Secret)) Setting {
	return Setting{Key: key, Doc: doc, kind: kSecret, set: func(c *Config, v any) { set(c, v.(Secret)) }}
}

func withCheck(s Setting, check func(string) error) Setting {
	s.check = check
	return s
}

// prefixForbidden are the characters OpenSearch refuses in index names.
var prefixForbidden = ` ,:"*+/\|?#<>`

func checkPrefix(p string) error {
	switch {
	case p == "":
	case len(p) > 50:
		return fmt.Errorf("prefix %q is longer than 50 bytes", p)
	case p != strings.ToLower(p):
		return fmt.Errorf("prefix %q must be lower case (OpenSearch index names are)", p)
	case !isAlnum(p[0]):
		return fmt.Errorf("prefix %q must start with a letter or a digit", p)
	case strings.ContainsAny(p, prefixForbidden):
		return fmt.Errorf("prefix %q contains a character OpenSearch forbids in index names (space or one of %s)", p, strings.Join(strings.Split(prefixForbidden[1:], ""), " "))
	}
	return nil
}

// Settings lists every setting with a flag and an environment twin.
func Settings() []Setting {
	list := []Setting{
		withCheck(stringSetting("prefix", "", "Prefix of every OpenSearch name flusso owns (indexes, aliases, the meta index).", func(c *Config, v string) { c.Prefix = v }), checkPrefix),
		enumSetting("on_error", "stop", []string{"stop", "skip"}, "What a document rejected by a sink does: stop the pipeline, or skip it into the dead-letter stream.", func(c *Config, v string) { c.OnError = OnError(v) }),
		stringSetting("server.public_address", "127.0.0.1:9464", "Address of the public surface (/healthz, /readyz, /status, /metrics).", func(c *Config, v string) { c.Server.PublicAddress = v }),
		stringSetting("server.private_address", "127.0.0.1:9465", "Address of the private, authenticated surface (/indexes, /reindex).", func(c *Config, v string) { c.Server.PrivateAddress = v }),

		stringSetting("nats.url", "", "URL of an external NATS server with JetStream; empty runs an embedded one.", func(c *Config, v string) { c.NATS.URL = v }),
		identSetting("nats.pipeline", "", "Name scoping this pipeline's subjects and streams; empty means the slot name.", func(c *Config, v string) { c.NATS.Pipeline = v }),
		stringSetting("nats.credentials", "", "NATS credentials file (.creds).", func(c *Config, v string) { c.NATS.Credentials = v }),
		stringSetting("nats.tls_ca_file", "", "CA certificate file to verify the NATS server.", func(c *Config, v string) { c.NATS.TLSCAFile = v }),
		stringSetting("nats.tls_cert_file", "", "Client certificate file for NATS mutual TLS.", func(c *Config, v string) { c.NATS.TLSCertFile = v }),
		stringSetting("nats.tls_key_file", "", "Client key file for NATS mutual TLS.", func(c *Config, v string) { c.NATS.TLSKeyFile = v }),
		stringSetting("nats.data_dir", "flusso-data", "Storage folder of the embedded NATS server.", func(c *Config, v string) { c.NATS.DataDir = v }),
		stringSetting("nats.listen", "127.0.0.1:0", "Address of the embedded NATS server; port 0 picks a free one, which the other flusso commands find in the data folder.", func(c *Config, v string) { c.NATS.Listen = v }),
		intSetting("nats.stream_replicas", 1, 1, "Replicas of each JetStream stream (1, 3 or 5 in a cluster).", func(c *Config, v int64) { c.NATS.StreamReplicas = int(v) }),
		durationSetting("nats.max_age", "168h", "How long the streams keep messages; 0 keeps them until consumed limits apply.", func(c *Config, v Duration) { c.NATS.MaxAge = v }),
		intSetting("nats.max_bytes", -1, -1, "Size limit of each stream in bytes; -1 is unlimited. When full, capture waits instead of dropping changes.", func(c *Config, v int64) { c.NATS.MaxBytes = v }),
		durationSetting("nats.duplicate_window", "2m", "Window in which a republished change is recognised by its message id.", func(c *Config, v Duration) { c.NATS.DuplicateWindow = v }),

		identSetting("capture.slot", "flusso", "Logical replication slot.", func(c *Config, v string) { c.Capture.Slot = v }),
		identSetting("capture.publication", "flusso", "Publication covering every table the indexes read.", func(c *Config, v string) { c.Capture.Publication = v }),
		durationSetting("capture.lag_interval", "10s", "How often slot lag is sampled.", func(c *Config, v Duration) { c.Capture.LagInterval = v }),
		intSetting("capture.publish_window", 4096, 1, "Changes published to JetStream and not yet acknowledged, at most.", func(c *Config, v int64) { c.Capture.PublishWindow = int(v) }),
		intSetting("capture.backfill_chunk", 5000, 1, "Root keys per backfill task.", func(c *Config, v int64) { c.Capture.BackfillChunk = int(v) }),
		durationSetting("capture.standby_retry", "5s", "How often a standby capture retries to take the slot.", func(c *Config, v Duration) { c.Capture.StandbyRetry = v }),

		intSetting("indexer.batch_size", 500, 1, "Changes per batch, at most.", func(c *Config, v int64) { c.Indexer.BatchSize = int(v) }),
		durationSetting("indexer.batch_wait", "250ms", "How long a batch waits to fill before it is processed.", func(c *Config, v Duration) { c.Indexer.BatchWait = v }),
		intSetting("indexer.concurrency", 2, 1, "Batches processed in parallel by one indexer.", func(c *Config, v int64) { c.Indexer.Concurrency = int(v) }),
		durationSetting("indexer.ack_wait", "60s", "How long JetStream waits for an ack before redelivering.", func(c *Config, v Duration) { c.Indexer.AckWait = v }),
		intSetting("indexer.max_ack_pending", 10000, 1, "Changes delivered and not yet acknowledged, at most, across replicas.", func(c *Config, v int64) { c.Indexer.MaxAckPending = int(v) }),
		intSetting("indexer.max_deliver", -1, -1, "Deliveries of one change before it is given up; -1 retries forever.", func(c *Config, v int64) { c.Indexer.MaxDeliver = int(v) }),

		secretSetting("status.token", "Bearer token of the private surface; a string or { env = \"VAR\" } in the file. With neither a token nor a username, a random token is generated at start and logged once.", func(c *Config, v Secret) { c.Status.Token = v }),
		secretSetting("status.username", "HTTP Basic user of the private surface (with status.password); a string or { env = \"VAR\" } in the file.", func(c *Config, v Secret) { c.Status.Username = v }),
		secretSetting("status.password", "HTTP Basic password of the private surface (with status.username); a string or { env = \"VAR\" } in the file.", func(c *Config, v Secret) { c.Status.Password = v }),
	}
	for i := range list {
		s := &list[i]
		s.Flag = strings.NewReplacer(".", "-", "_", "-").Replace(s.Key)
		s.Env = "FLUSSO_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(s.Key))
	}
	// The prefix keeps the names the Rust flusso gave it.
	list[0].Flag, list[0].Env = "index-prefix", "FLUSSO_INDEX_PREFIX"
	return list
}

// parse converts a value from the file (a TOML value) or from a flag or the
// environment (text) to the setting's type.
func (s Setting) parse(v any, fromText bool) (any, error) {
	switch s.kind {
	case kInt:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case string:
			if !fromText {
				return nil, fmt.Errorf("expected an integer, found the string %q", x)
			}
			var err error
			if n, err = strconv.ParseInt(strings.TrimSpace(x), 10, 64); err != nil {
				return nil, fmt.Errorf("expected an integer, found %q", x)
			}
		default:
			return nil, fmt.Errorf("expected an integer, found %s", tomlDescribe(v))
		}
		if n < s.min {
			return nil, fmt.Errorf("must be at least %d, found %d", s.min, n)
		}
		return n, nil
	case kSecret:
		return s.parseSecret(v)
	case kDuration:
		x, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("expected a duration such as \"10s\" or \"5m\", found %s", tomlDescribe(v))
		}
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("expected a duration such as \"10s\" or \"5m\", found %q", x)
		}
		return Duration(d), nil
	}
	x, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("expected a string, found %s", tomlDescribe(v))
	}
	if s.check != nil {
		if err := s.check(x); err != nil {
			return nil, err
		}
	}
	switch s.kind {
	case kEnum:
		if !contains(s.enum, x) {
			return nil, fmt.Errorf("expected one of %s, found %q", quotedList(s.enum), x)
		}
	case kIdent:
		if x == "" {
			return x, nil
		}
		id, err := normalizeIdent(x)
		if err != nil {
			return nil, err
		}
		return id, nil
	}
	return x, nil
}

// parseSecret reads a secret setting. Its errors never quote the value.
func (s Setting) parseSecret(v any) (any, error) {
	out := Secret{path: s.Key}
	switch x := v.(type) {
	case string:
		if x != "" {
			out.literal, out.hasLiteral = x, true
		}
		return out, nil
	case map[string]any:
		for k := range x {
			if k != "env" {
				return nil, fmt.Errorf("unknown key %q in an environment reference: expected { env = \"VAR\" }", k)
			}
		}
		name, ok := x["env"].(string)
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("expected { env = \"VAR\" } with the name of an environment variable")
		}
		out.env = strings.TrimSpace(name)
		return out, nil
	}
	return nil, fmt.Errorf("expected a string or { env = \"VAR\" }, found %s", secretDescribe(v))
}

// secretDescribe is tomlDescribe without the value: a number or boolean
// given where a secret was expected may still be one.
func secretDescribe(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	}
	return tomlDescribe(v)
}

// Options are what Load takes besides the file: setting values from outside
// it.
type Options struct {
	// Flags maps a setting key (indexer.batch_size) to the text of a flag
	// the user set.
	Flags map[string]string
	// Env reads FLUSSO_* variables; nil means the process environment.
	Env LookupEnv
}
