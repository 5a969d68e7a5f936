package opensearch_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/opensearchtest"
	"github.com/flusso-go/flusso/pkg/sink"
	"github.com/flusso-go/flusso/pkg/sink/opensearch"
)

// pki is a throwaway CA with a server and a client certificate, written as
// PEM files.
type pki struct {
	pool                *x509.CertPool
	server              tls.Certificate
	caFile              string
	certFile, keyFile   string // the client's
	serverKeyFile       string
	notPEM, missingFile string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	serverDER, serverKey := leaf(2, x509.ExtKeyUsageServerAuth)
	clientDER, clientKey := leaf(3, x509.ExtKeyUsageClientAuth)

	p := &pki{pool: x509.NewCertPool(), missingFile: filepath.Join(dir, "missing.pem")}
	p.pool.AddCert(ca)
	p.server, err = tls.X509KeyPair(certPEM(serverDER, caDER), keyPEM(t, serverKey))
	if err != nil {
		t.Fatal(err)
	}
	p.caFile = writeFile(t, dir, "ca.pem", certPEM(caDER))
	p.certFile = writeFile(t, dir, "client.pem", certPEM(clientDER, caDER))
	p.keyFile = writeFile(t, dir, "client-key.pem", keyPEM(t, clientKey))
	p.serverKeyFile = writeFile(t, dir, "server-key.pem", keyPEM(t, serverKey))
	p.notPEM = writeFile(t, dir, "not.pem", []byte("not a certificate\n"))
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func certPEM(ders ...[]byte) []byte {
	var out []byte
	for _, der := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}

func keyPEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsFront serves the stand-in over TLS with the PKI's server certificate;
// clientCAs, when set, makes it require a client certificate they signed.
func tlsFront(t *testing.T, srv *opensearchtest.Server, p *pki, clientCAs *x509.CertPool) string {
	t.Helper()
	target, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	front.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}}
	if clientCAs != nil {
		front.TLS.ClientAuth, front.TLS.ClientCAs = tls.RequireAndVerifyClientCert, clientCAs
	}
	// Refused handshakes are the point of some tests, not noise to print.
	front.Config.ErrorLog = log.New(io.Discard, "", 0)
	front.StartTLS()
	t.Cleanup(front.Close)
	return front.URL
}

// newTLSSink builds the sink "primary" for url; a failed New is returned.
func newTLSSink(t *testing.T, url string, mod func(*config.OpenSearchSink)) (*opensearch.Sink, error) {
	t.Helper()
	oc := &config.OpenSearchSink{URL: config.SecretLiteral(url), TLSVerify: true, BatchSize: 100, MaxBytes: 1 << 20,
		Timeout: config.Duration(5 * time.Second), MaxRetries: 0, NumberOfShards: 1, NumberOfReplicas: 1, RefreshInterval: "10s"}
	if mod != nil {
		mod(oc)
	}
	s, err := opensearch.New(&config.Config{Prefix: "t_"}, &config.Sink{Name: "primary", Type: config.SinkOpenSearch, OpenSearch: oc}, nil, nil)
	if err != nil {
		return nil, err
	}
	s.BaseBackoff = time.Millisecond
	t.Cleanup(func() { _ = s.Close() })
	return s, nil
}

// roundTrip ensures an index, writes a document and reads it back from the
// stand-in behind the TLS front.
func roundTrip(t *testing.T, srv *opensearchtest.Server, s *opensearch.Sink) {
	t.Helper()
	ensure(t, s, sink.Target{Index: "users", Write: []sink.Generation{g1}})
	if rej := write(t, s, sink.Op{Index: "users", ID: "1", Version: 1, Doc: doc("ada", 1)}); len(rej) != 0 {
		t.Fatalf("rejections %+v", rej)
	}
	if got := string(srv.Docs("t_users_abcd1234_1")["1"]); got != `{"name":"ada","n":1}` {
		t.Fatalf("document read back: %q", got)
	}
}

// ensureFails runs Ensure and returns its error, which must name the sink
// and mention want.
func ensureFails(t *testing.T, s *opensearch.Sink, want string) {
	t.Helper()
	err := s.Ensure(context.Background(), sink.Target{Index: "users", Body: body, Write: []sink.Generation{g1}})
	if err == nil {
		t.Fatal("Ensure succeeded")
	}
	t.Logf("Ensure: %v", err)
	if !strings.Contains(err.Error(), "sink primary") || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q: want the sink's name and %q", err, want)
	}
}

func TestTLSWithCAFile(t *testing.T) {
	srv, p := opensearchtest.New(t), newPKI(t, "localhost")
	s, err := newTLSSink(t, tlsFront(t, srv, p, nil), func(o *config.OpenSearchSink) { o.TLS.CAFile = p.caFile })
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, srv, s)
}

func TestTLSUnknownAuthority(t *testing.T) {
	srv, p := opensearchtest.New(t), newPKI(t, "localhost")
	url := tlsFront(t, srv, p, nil)
	s, err := newTLSSink(t, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ensureFails(t, s, "certificate signed by unknown authority")

	// Another CA does not do either: the CA file is what is trusted.
	other := newPKI(t, "other")
	s, err = newTLSSink(t, url, func(o *config.OpenSearchSink) { o.TLS.CAFile = other.caFile })
	if err != nil {
		t.Fatal(err)
	}
	ensureFails(t, s, "certificate signed by unknown authority")
}

func TestTLSVerifyFalse(t *testing.T) {
	srv, p := opensearchtest.New(t), newPKI(t, "localhost")
	// The CA file is not read without verification: a missing one is fine.
	s, err := newTLSSink(t, tlsFront(t, srv, p, nil), func(o *config.OpenSearchSink) {
		o.TLSVerify = false
		o.TLS.CAFile = p.missingFile
	})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, srv, s)
}

func TestTLSClientCertificate(t *testing.T) {
	srv, p := opensearchtest.New(t), newPKI(t, "localhost")
	url := tlsFront(t, srv, p, p.pool)

	s, err := newTLSSink(t, url, func(o *config.OpenSearchSink) {
		o.TLS = config.SinkTLS{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile}
	})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, srv, s)

	s, err = newTLSSink(t, url, func(o *config.OpenSearchSink) { o.TLS.CAFile = p.caFile })
	if err != nil {
		t.Fatal(err)
	}
	ensureFails(t, s, "certificate required")

	// A client certificate of another CA is not even offered: the server
	// names the CAs it accepts.
	other := newPKI(t, "other")
	s, err = newTLSSink(t, url, func(o *config.OpenSearchSink) {
		o.TLS = config.SinkTLS{CAFile: p.caFile, CertFile: other.certFile, KeyFile: other.keyFile}
	})
	if err != nil {
		t.Fatal(err)
	}
	ensureFails(t, s, "certificate required")
}

// A file the sink cannot use fails New with the sink's name and the file.
func TestTLSFileErrors(t *testing.T) {
	p := newPKI(t, "localhost")
	for _, tc := range []struct {
		name string
		tls  config.SinkTLS
		want []string
	}{
		{"missing CA file", config.SinkTLS{CAFile: p.missingFile}, []string{"ca_file " + p.missingFile, "no such file"}},
		{"CA file without PEM", config.SinkTLS{CAFile: p.notPEM}, []string{"ca_file " + p.notPEM, "no PEM certificate"}},
		{"missing certificate", config.SinkTLS{CertFile: p.missingFile, KeyFile: p.keyFile}, []string{"cert_file " + p.missingFile}},
		{"missing key", config.SinkTLS{CertFile: p.certFile, KeyFile: p.missingFile}, []string{"key_file " + p.missingFile}},
		{"certificate without PEM", config.SinkTLS{CertFile: p.notPEM, KeyFile: p.keyFile}, []string{"cert_file " + p.notPEM, "with key_file " + p.keyFile}},
		{"key of another certificate", config.SinkTLS{CertFile: p.certFile, KeyFile: p.serverKeyFile},
			[]string{"cert_file " + p.certFile, "key_file " + p.serverKeyFile, "private key does not match public key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newTLSSink(t, "https://127.0.0.1:9200", func(o *config.OpenSearchSink) { o.TLS = tc.tls })
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range append([]string{"sink primary: "}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want %q", err, w)
				}
			}
		})
	}
}
