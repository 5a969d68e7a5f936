package cli

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/natsembed"
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

// ConnectNATS connects to the NATS of cfg ([nats] url, credentials and TLS
// files), reconnecting forever and logging disconnections. Without a URL it
// connects to the embedded server of a `flusso run` on the same data
// folder.
func ConnectNATS(cfg *config.Config, name string, log *slog.Logger) (*nats.Conn, error) {
	url := cfg.NATS.URL
	if url == "" {
		if url = natsembed.ReadURL(cfg.NATS.DataDir); url == "" {
			return nil, fmt.Errorf("no NATS URL: %s needs a NATS server with JetStream: set nats.url (--nats-url, FLUSSO_NATS_URL), or start `flusso run`, whose embedded server it finds in nats.data_dir (%s)", name, cfg.NATS.DataDir)
		}
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
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	return nc, nil
}
