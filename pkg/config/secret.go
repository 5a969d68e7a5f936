package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
)

// LookupEnv reads an environment variable; os.LookupEnv in production, a map
// in tests.
type LookupEnv func(name string) (string, bool)

// Secret is a configured value that may be sensitive (a URL with a password,
// a password): a literal, an explicit { env = "VAR" } reference, or nothing,
// plus the reserved variable that may stand in for it. It is resolved only at
// run time, and however it is printed (fmt, JSON, slog) its value never shows.
type Secret struct {
	literal    string
	hasLiteral bool
	env        string // explicit { env = "VAR" }
	reserved   string // e.g. DATABASE_URL
	path       string // config key, for error messages
	// display is a safe rendering of a literal (a URL with its password
	// masked); empty means fully redacted.
	display string
}

// SecretLiteral returns a secret holding a literal value.
func SecretLiteral(v string) Secret { return Secret{literal: v, hasLiteral: true} }

// SecretEnv returns a secret read from the environment variable name.
func SecretEnv(name string) Secret { return Secret{env: name} }

// EnvVar is the explicitly referenced environment variable, if any.
func (s Secret) EnvVar() string { return s.env }

// ReservedVar is the reserved environment variable that overrides a literal.
func (s Secret) ReservedVar() string { return s.reserved }

// IsZero reports whether nothing was configured (a reserved variable may still
// provide a value at run time).
func (s Secret) IsZero() bool { return !s.hasLiteral && s.env == "" }

// Resolve returns the value. Precedence: explicit { env } reference, then the
// reserved variable, then the literal; otherwise an error naming what to set.
func (s Secret) Resolve(lookup LookupEnv) (string, error) {
	v, ok, err := s.ResolveOptional(lookup)
	if err != nil {
		return "", err
	}
	if !ok {
		if s.reserved != "" {
			return "", fmt.Errorf("%s is not set: set it in the config or in the environment variable %s", s.path, s.reserved)
		}
		return "", fmt.Errorf("%s is not set", s.path)
	}
	return v, nil
}

// ResolveOptional is Resolve for settings that may stay unset: ok is false
// when neither the config nor the reserved variable gives a value.
func (s Secret) ResolveOptional(lookup LookupEnv) (value string, ok bool, err error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if s.env != "" {
		v, found := lookup(s.env)
		if !found {
			return "", false, fmt.Errorf("%s: environment variable %s is not set", s.path, s.env)
		}
		return v, true, nil
	}
	if s.reserved != "" {
		if v, found := lookup(s.reserved); found {
			return v, true, nil
		}
	}
	if s.hasLiteral {
		return s.literal, true, nil
	}
	return "", false, nil
}

// String describes where the value comes from without revealing it.
func (s Secret) String() string {
	switch {
	case s.env != "":
		return "env:" + s.env
	case s.hasLiteral && s.display != "":
		return s.display
	case s.hasLiteral:
		return "<redacted>"
	case s.reserved != "":
		return "env:" + s.reserved
	}
	return "<unset>"
}

// GoString keeps %#v from printing the struct fields.
func (s Secret) GoString() string { return "config.Secret(" + s.String() + ")" }

// Format makes every fmt verb print String.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON renders the source of the value, never the value.
func (s Secret) MarshalJSON() ([]byte, error) {
	if s.env != "" {
		return json.Marshal(map[string]string{"env": s.env})
	}
	return json.Marshal(s.String())
}

// redactURL masks the password of a URL literal for display; a string that
// does not parse is fully redacted.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return ""
	}
	// libpq also takes the password as a query parameter.
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
