package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// [sink_tls.<name>]: the TLS files of an opensearch sink, a flusso extension
// beside the Rust format's [sinks.<name>], and their reserved variables.

const validatePrimary = "[sinks.primary]\ntype = \"opensearch\"\nurl = \"https://search:9200\"\n"

func TestValidateSinkTLS(t *testing.T) {
	primary := validatePrimary
	validateRunConfig(t, []validateConfigCase{
		{name: "sink_tls not a table", toml: "sink_tls = 5\n" + validateSource + validateIndex,
			want: validateWant{path: "sink_tls", msg: "expected a table, found the number 5"}},
		{name: "entry not a table", toml: "sink_tls = { primary = \"ca.pem\" }\n" + validateSource + validateIndex + primary,
			want: validateWant{path: "sink_tls.primary", msg: `expected a table, found the string "ca.pem"`}},
		{name: "misspelt sink", toml: validateConfig("", primary+"[sink_tls.primay]\nca_file = \"ca.pem\"\n"),
			want: validateWant{path: "sink_tls.primay", msg: "[sink_tls.primay] names no sink: there is no [sinks.primay]", hint: `did you mean "primary"?`}},
		{name: "unknown sink", toml: validateConfig("", primary+"[sinks.audit]\ntype = \"stdout\"\n[sink_tls.backup]\nca_file = \"ca.pem\"\n"),
			want: validateWant{path: "sink_tls.backup", msg: "[sink_tls.backup] names no sink", hint: `the sinks are "audit", "primary"`}},
		{name: "sink name not an identifier", toml: validateConfig("", primary+"[sink_tls.\"search-1\"]\nca_file = \"ca.pem\"\n"),
			want: validateWant{path: "sink_tls.search-1", msg: `sink name: "search-1" is not a valid identifier`}},
		{name: "same sink twice once lower-cased", toml: validateConfig("", primary+"[sink_tls.Primary]\nca_file = \"a.pem\"\n[sink_tls.primary]\nca_file = \"b.pem\"\n"),
			want: validateWant{path: "sink_tls.primary", msg: "[sink_tls.Primary] and [sink_tls.primary] are the same sink once lower-cased"}},
		{name: "stdout sink", toml: validateConfig("", "[sinks.audit]\ntype = \"stdout\"\n[sink_tls.audit]\nca_file = \"ca.pem\"\n"),
			want: validateWant{path: "sink_tls.audit", msg: `sink "audit" is a stdout sink: TLS files apply to opensearch sinks only`}},
		{name: "the default stdout sink", toml: validateConfig("", "[sink_tls.stdout]\nca_file = \"ca.pem\"\n"),
			want: validateWant{path: "sink_tls.stdout", msg: `sink "stdout" is a stdout sink`}},
		{name: "sink that failed to load is not reported again", toml: validateConfig("", "[sinks.primary]\ntype = \"kafka\"\n[sink_tls.primary]\nca_file = \"ca.pem\"\n"),
			want: validateWant{path: "sinks.primary.type", msg: `unknown sink type "kafka"`}},
		{name: "unknown key", toml: validateConfig("", primary+"[sink_tls.primary]\nca_fil = \"ca.pem\"\n"),
			want: validateWant{path: "sink_tls.primary.ca_fil", msg: `unknown key "ca_fil" in [sink_tls.primary]`, hint: `did you mean "ca_file"?`}},
		{name: "unknown key far from any", toml: validateConfig("", primary+"[sink_tls.primary]\nverify = false\n"),
			want: validateWant{path: "sink_tls.primary.verify", msg: `unknown key "verify" in [sink_tls.primary]`, hint: `expected one of "ca_file", "cert_file", "key_file"`}},
		{name: "TLS key in the Rust table", toml: validateConfig("", primary+"ca_file = \"ca.pem\"\n"),
			want: validateWant{path: "sinks.primary.ca_file", msg: `unknown key "ca_file" in an opensearch sink`}},
		{name: "ca_file not a string", toml: validateConfig("", primary+"[sink_tls.primary]\nca_file = 5\n"),
			want: validateWant{path: "sink_tls.primary.ca_file", msg: "expected the path of a PEM file, found the number 5"}},
		{name: "ca_file empty", toml: validateConfig("", primary+"[sink_tls.primary]\nca_file = \" \"\n"),
			want: validateWant{path: "sink_tls.primary.ca_file", msg: "expected the path of a PEM file, found an empty string"}},
		{name: "bad value overridden by a variable still reported", toml: validateConfig("", primary+"[sink_tls.primary]\nca_file = true\n"),
			env:  map[string]string{"PRIMARY_OPENSEARCH_CA_FILE": "/ca.pem"},
			want: validateWant{path: "sink_tls.primary.ca_file", msg: "expected the path of a PEM file, found the boolean true"}},
		{name: "cert_file without key_file", toml: validateConfig("", primary+"[sink_tls.primary]\ncert_file = \"client.pem\"\n"),
			want: validateWant{path: "sink_tls.primary.cert_file", msg: `sink "primary": a client certificate needs its private key`,
				hint: "set key_file in [sink_tls.primary] or PRIMARY_OPENSEARCH_KEY_FILE"}},
		{name: "key_file without cert_file", toml: validateConfig("", primary+"[sink_tls.primary]\nkey_file = \"client-key.pem\"\n"),
			want: validateWant{path: "sink_tls.primary.key_file", msg: `sink "primary": a client key needs its certificate`,
				hint: "set cert_file in [sink_tls.primary] or PRIMARY_OPENSEARCH_CERT_FILE"}},
		{name: "cert from the environment without key", toml: validateConfig("", primary),
			env:  map[string]string{"PRIMARY_OPENSEARCH_CERT_FILE": "/tls/client.pem"},
			want: validateWant{path: "PRIMARY_OPENSEARCH_CERT_FILE", msg: `sink "primary": a client certificate needs its private key`}},
		{name: "ca_file with tls_verify = false", toml: validateConfig("", primary+"tls_verify = false\n[sink_tls.primary]\nca_file = \"ca.pem\"\n"),
			want: validateWant{sev: SeverityWarning, path: "sink_tls.primary.ca_file", msg: `sink "primary" has tls_verify = false: certificates are not verified, so the CA file is unused`}},
		{name: "CA from the environment with tls_verify = false", toml: validateConfig("", primary+"tls_verify = false\n"),
			env:  map[string]string{"PRIMARY_OPENSEARCH_CA_FILE": "/tls/ca.pem"},
			want: validateWant{sev: SeverityWarning, path: "PRIMARY_OPENSEARCH_CA_FILE", msg: "the CA file is unused"}},
	})
}

func TestValidateSinkTLSAccepts(t *testing.T) {
	cases := []struct {
		name, toml string
		env        map[string]string
	}{
		{"client certificate without verification", validateConfig("", validatePrimary+"tls_verify = false\n[sink_tls.primary]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n"), nil},
		{"empty table", validateConfig("", validatePrimary+"[sink_tls.primary]\n"), nil},
		{"key from the environment completes the file's cert", validateConfig("", validatePrimary+"[sink_tls.primary]\ncert_file = \"c.pem\"\n"),
			map[string]string{"PRIMARY_OPENSEARCH_KEY_FILE": "/k.pem"}},
		{"variables of a stdout sink are not read", validateConfig("", "[sinks.audit]\ntype = \"stdout\"\n"),
			map[string]string{"AUDIT_OPENSEARCH_CERT_FILE": "/c.pem"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			validateLoadOK(t, c.toml, c.env, nil)
		})
	}
}

// Relative paths in the file resolve against the config's folder; the
// reserved variables win over the file and are taken as given.
func TestValidateSinkTLSResolution(t *testing.T) {
	toml := validateConfig("", validatePrimary+`
[sinks.backup]
type = "opensearch"

[sinks.audit]
type = "stdout"

[sink_tls." Primary "]
ca_file = "tls/ca.pem"
cert_file = "/abs/client.pem"
key_file = "../keys/client-key.pem"
`)
	tlsOf := func(cfg *Config, name string) SinkTLS {
		t.Helper()
		for _, s := range cfg.Sinks {
			if s.Name == name {
				return s.OpenSearch.TLS
			}
		}
		t.Fatalf("no sink %s", name)
		return SinkTLS{}
	}

	cfg := validateLoadOK(t, toml, nil, nil)
	validateEqual(t, "from the file", tlsOf(cfg, "primary"), SinkTLS{
		CAFile: validateConfigDir + "/tls/ca.pem", CertFile: "/abs/client.pem", KeyFile: "/etc/keys/client-key.pem"})
	validateEqual(t, "a sink without a table", tlsOf(cfg, "backup"), SinkTLS{})

	cfg = validateLoadOK(t, toml, map[string]string{
		"PRIMARY_OPENSEARCH_CA_FILE":   "certs/env-ca.pem", // relative to the working directory
		"PRIMARY_OPENSEARCH_CERT_FILE": "",                 // empty: unset
		"BACKUP_OPENSEARCH_CA_FILE":    "/run/secrets/backup-ca.pem",
		"BACKUP_OPENSEARCH_CERT_FILE":  "/run/secrets/backup.pem",
		"BACKUP_OPENSEARCH_KEY_FILE":   "/run/secrets/backup-key.pem",
	}, nil)
	validateEqual(t, "variable over the file", tlsOf(cfg, "primary"), SinkTLS{
		CAFile: "certs/env-ca.pem", CertFile: "/abs/client.pem", KeyFile: "/etc/keys/client-key.pem"})
	validateEqual(t, "variables without a table", tlsOf(cfg, "backup"), SinkTLS{
		CAFile: "/run/secrets/backup-ca.pem", CertFile: "/run/secrets/backup.pem", KeyFile: "/run/secrets/backup-key.pem"})
}

// The paths show in check's JSON; a sink without TLS files has no "tls" key,
// so that output is as before.
func TestSinkTLSJSON(t *testing.T) {
	cfg := validateLoadOK(t, validateConfig("", validatePrimary+"[sinks.backup]\ntype = \"opensearch\"\n[sink_tls.primary]\nca_file = \"ca.pem\"\n"), nil, nil)
	var out []string
	for _, s := range cfg.Sinks {
		b, err := json.Marshal(s.OpenSearch)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	if strings.Contains(out[0], `"tls"`) || !strings.Contains(out[1], `"tls":{"ca_file":"/etc/flusso/ca.pem"}`) {
		t.Errorf("JSON of the sinks:\n%s", strings.Join(out, "\n"))
	}
}
