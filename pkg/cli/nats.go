package cli

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/nats-io/nats.go"
)

// DefaultInstance names a service process in events: host-pid.
func DefaultInstance(service string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = service
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// ConnectNATS connects to the external NATS of cfg ([nats] url, credentials
// and TLS files), reconnecting forever and logging disconnections.
func ConnectNATS(cfg *config.Config, name string, log *slog.Logger) (*nats.Conn, error) {
	if cfg.NATS.URL == "" {
		return nil, fmt.Errorf("no NATS URL: %s needs an external NATS server with JetStream (nats.url, --nats-url or FLUSSO_NATS_URL)", name)
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }),
	}
	if cfg.NATS.Credentials != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATS.Credentials))
	}
	if cfg.NATS.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.NATS.TLSCAFile))
	}
	if cfg.NATS.TLSCertFile != "" || cfg.NATS.TLSKeyFile != "" {
		opts = append(opts, nats.ClientCert(cfg.NATS.TLSCertFile, cfg.NATS.TLSKeyFile))
	}
	nc, err := nats.Connect(cfg.NATS.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", cfg.NATS.URL, err)
	}
	return nc, nil
}
