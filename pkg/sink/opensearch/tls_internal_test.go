package opensearch

import (
	"crypto/tls"
	"testing"

	"github.com/flusso-go/flusso/pkg/config"
)

// Verification is skipped only when tls_verify = false, and nothing older
// than TLS 1.2 is spoken either way.
func TestTLSConfigDefaults(t *testing.T) {
	for _, verify := range []bool{true, false} {
		c, err := tlsConfig(config.OpenSearchSink{TLSVerify: verify})
		if err != nil {
			t.Fatal(err)
		}
		if c.MinVersion != tls.VersionTLS12 || c.InsecureSkipVerify == verify || c.RootCAs != nil || len(c.Certificates) != 0 {
			t.Errorf("tls_verify = %t: MinVersion %x InsecureSkipVerify %t RootCAs %v certificates %d",
				verify, c.MinVersion, c.InsecureSkipVerify, c.RootCAs, len(c.Certificates))
		}
	}
}
