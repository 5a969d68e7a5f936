// Package sinks makes the sinks a config names: the one place that knows
// every sink implementation, shared by the indexer's command and `flusso
// run`.
package sinks

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/opensearch"
	"github.com/flusso-go/flusso/pkg/sink/stdout"
)

// Build makes the configured sinks: documents of a stdout sink go to out;
// an opensearch sink resolves its secrets with env and logs through log. On
// an error the sinks already made are closed.
func Build(cfg *config.Config, out io.Writer, env config.LookupEnv, log *slog.Logger) ([]sink.Sink, error) {
	var made []sink.Sink
	fail := func(err error) ([]sink.Sink, error) {
		for _, s := range made {
			_ = s.Close()
		}
		return nil, err
	}
	for _, sc := range cfg.Sinks {
		switch sc.Type {
		case config.SinkStdout:
			pretty := sc.Stdout != nil && sc.Stdout.Pretty
			made = append(made, stdout.New(sc.Name, out, pretty))
		case config.SinkOpenSearch:
			s, err := opensearch.New(cfg, sc, env, log)
			if err != nil {
				return fail(err)
			}
			made = append(made, s)
		default:
			return fail(fmt.Errorf("sink %s: unknown type %q", sc.Name, sc.Type))
		}
	}
	if len(made) == 0 {
		return nil, errors.New("no sink configured")
	}
	return made, nil
}

// Close closes every sink, logging the failures.
func Close(sinks []sink.Sink, log *slog.Logger) {
	for _, s := range sinks {
		if err := s.Close(); err != nil {
			log.Warn("close sink", "sink", s.Name(), "err", err)
		}
	}
}
