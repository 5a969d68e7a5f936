package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/spf13/pflag"
)

// Service is the command line every service binary shares: the config
// file, the settings given as flags, the logger and the instance name.
type Service struct {
	Config   string
	Settings map[string]string
	Log      *slog.Logger
	Instance string
}

// ParseService parses the command line of the service binary name (e.g.
// flusso-capture, running service capture), whose usage text is about.
// FLUSSO_INSTANCE is read with env (nil: the process environment). When it
// returns nil, the binary exits with code: 0 after --help, 2 on a usage
// error, reported on stderr.
func ParseService(name, service, about string, args []string, stderr io.Writer, env config.LookupEnv) (s *Service, code int) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := ConfigFlag(fs)
	settings := SettingFlags(fs)
	logger := LogFlags(fs)
	instance := fs.String("instance", DefaultInstance(service), "name of this "+service+" in events (env FLUSSO_INSTANCE)")
	if env == nil {
		env = os.LookupEnv
	}
	if v, ok := env("FLUSSO_INSTANCE"); ok {
		*instance = v
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\n%s\n\n%s", name, about, fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", name, fs.Args())
		return nil, 2
	}
	log, err := logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, 2
	}
	return &Service{Config: *configPath, Settings: settings(), Log: log, Instance: *instance}, 0
}
