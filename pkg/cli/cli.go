// Package cli holds what every flusso command line shares: the flags of the
// configuration settings (each with its FLUSSO_* environment twin), the
// config path flag, and the logger (text or JSON on stderr).
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/spf13/pflag"
)

// SettingFlags registers a flag for every config setting on fs and returns a
// function collecting the ones the user set, keyed by setting, for
// config.Options.Flags. Precedence (flag > environment > file > default) is
// applied by config.Load.
func SettingFlags(fs *pflag.FlagSet) func() map[string]string {
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

// ConfigFlag registers -c/--config, defaulting to $FLUSSO_CONFIG or
// flusso.toml.
func ConfigFlag(fs *pflag.FlagSet) *string {
	def := "flusso.toml"
	if v, ok := os.LookupEnv("FLUSSO_CONFIG"); ok {
		def = v
	}
	return fs.StringP("config", "c", def, "path of flusso.toml (env FLUSSO_CONFIG)")
}

// LogFlags registers --log-format (text|json) and --log-level, with
// FLUSSO_LOG_FORMAT and FLUSSO_LOG_LEVEL twins, and returns a function that
// builds the logger once flags are parsed.
func LogFlags(fs *pflag.FlagSet) func(w io.Writer) (*slog.Logger, error) {
	format := fs.String("log-format", envOr("FLUSSO_LOG_FORMAT", "text"), "log format on stderr: text or json (env FLUSSO_LOG_FORMAT)")
	level := fs.String("log-level", envOr("FLUSSO_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env FLUSSO_LOG_LEVEL)")
	return func(w io.Writer) (*slog.Logger, error) {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(strings.ToUpper(*level))); err != nil {
			return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", *level)
		}
		opts := &slog.HandlerOptions{Level: lv}
		switch *format {
		case "text":
			return slog.New(slog.NewTextHandler(w, opts)), nil
		case "json":
			return slog.New(slog.NewJSONHandler(w, opts)), nil
		}
		return nil, fmt.Errorf("--log-format: %q is not text or json", *format)
	}
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
