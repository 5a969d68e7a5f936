package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const password = "s3cr3t-Pa55"

func envOf(vars map[string]string) LookupEnv {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// Whatever way a secret is printed, its value never shows.
func TestSecretNeverPrintsItsValue(t *testing.T) {
	secrets := map[string]Secret{
		"literal":  SecretLiteral(password),
		"url":      {literal: "postgres://app:" + password + "@db/shop", hasLiteral: true, display: redactURL("postgres://app:" + password + "@db/shop")},
		"query":    {literal: "postgres://db/shop?password=" + password, hasLiteral: true, display: redactURL("postgres://db/shop?password=" + password)},
		"env":      SecretEnv("PASSWORD_VAR"),
		"reserved": {reserved: "DATABASE_URL"},
	}
	for name, s := range secrets {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			slog.New(slog.NewJSONHandler(&logs, nil)).Info("connect", "secret", s)
			js, err := json.Marshal(struct{ S Secret }{s})
			if err != nil {
				t.Fatal(err)
			}
			outputs := []string{
				fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s),
				fmt.Sprintf("%v %+v", struct{ S Secret }{s}, &struct{ S Secret }{s}),
				string(js), logs.String(), s.String(), s.GoString(),
			}
			for _, out := range outputs {
				if strings.Contains(out, password) || strings.Contains(out, fmt.Sprintf("%x", password)) {
					t.Errorf("the value leaked: %s", out)
				}
			}
		})
	}
}

func TestSecretDescribesItsSource(t *testing.T) {
	for _, tc := range []struct {
		s    Secret
		want string
	}{
		{SecretLiteral("x"), "<redacted>"},
		{SecretEnv("TOKEN"), "env:TOKEN"},
		{Secret{literal: "u", hasLiteral: true, display: redactURL("postgres://app:pw@db:5432/shop")}, "postgres://app:xxxxx@db:5432/shop"},
		{Secret{reserved: "DATABASE_URL"}, "env:DATABASE_URL"},
		{Secret{}, "<unset>"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// Precedence: explicit { env } > reserved variable > literal > error.
func TestSecretResolvePrecedence(t *testing.T) {
	env := envOf(map[string]string{"EXPLICIT": "from-explicit", "DATABASE_URL": "from-reserved"})
	for _, tc := range []struct {
		name    string
		s       Secret
		want    string
		wantErr string
	}{
		{"explicit beats reserved", Secret{env: "EXPLICIT", reserved: "DATABASE_URL", path: "source.connection_url"}, "from-explicit", ""},
		{"reserved beats literal", Secret{literal: "lit", hasLiteral: true, reserved: "DATABASE_URL"}, "from-reserved", ""},
		{"literal when reserved unset", Secret{literal: "lit", hasLiteral: true, reserved: "OTHER_URL"}, "lit", ""},
		{"unset explicit variable", Secret{env: "MISSING", path: "sinks.primary.password"}, "", "sinks.primary.password: environment variable MISSING is not set"},
		{"nothing at all", Secret{reserved: "PRIMARY_OPENSEARCH_URL", path: "sinks.primary.url"}, "", "sinks.primary.url is not set: set it in the config or in the environment variable PRIMARY_OPENSEARCH_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Resolve(env)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Resolve() error = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "from-") {
					t.Fatalf("the error reveals a value: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestConnectionResolve(t *testing.T) {
	load := func(t *testing.T, conn string) *Config {
		t.Helper()
		toml := "[source]\ntype = \"postgres\"\nconnection_url = " + conn + "\n[[index]]\nname = \"i\"\nschema = \"i.schema.yml\"\n"
		cfg, diags := Parse("flusso.toml", []byte(toml), Options{Env: noEnv}, func(string) ([]byte, error) {
			return []byte("version: 1\ntable: t\nfields: [{keyword: k}]\n"), nil
		})
		if err := diags.Err(); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	parts := load(t, `{ host = "db.internal", port = 6432, user = "app@corp", password = { env = "PGPASS" }, database = "shop/eu" }`)
	got, err := parts.Source.Connection.Resolve(envOf(map[string]string{"PGPASS": "p@ss:/word"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://app%40corp:p%40ss%3A%2Fword@db.internal:6432/shop%2Feu"; got != want {
		t.Errorf("parts resolve to %q, want %q", got, want)
	}
	if s := parts.Source.Connection.String(); strings.Contains(s, "p@ss") || !strings.Contains(s, "env:PGPASS") {
		t.Errorf("parts describe as %q", s)
	}
	// DATABASE_URL beats the parts and a literal, not an explicit reference.
	env := envOf(map[string]string{"DATABASE_URL": "postgres://reserved/db", "MINE": "postgres://mine/db"})
	for conn, want := range map[string]string{
		`{ database = "d" }`:               "postgres://reserved/db",
		`"postgres://lit/db"`:              "postgres://reserved/db",
		`{ env = "MINE" }`:                 "postgres://mine/db",
		`{ host = "::1", database = "d" }`: "postgres://reserved/db",
	} {
		if got, err := load(t, conn).Source.Connection.Resolve(env); err != nil || got != want {
			t.Errorf("%s resolves to %q, %v; want %q", conn, got, err, want)
		}
	}
	if got, _ := load(t, `{ host = "::1", database = "d" }`).Source.Connection.Resolve(noEnv); got != "postgres://postgres@[::1]:5432/d" {
		t.Errorf("IPv6 parts resolve to %q", got)
	}
	if _, err := load(t, `{ env = "NOPE" }`).Source.Connection.Resolve(noEnv); err == nil || !strings.Contains(err.Error(), "NOPE") {
		t.Errorf("an unset variable resolves with error %v, want one naming NOPE", err)
	}
}
