// Package natstest runs NATS servers with JetStream for tests. Embedded
// starts one inside the test process: fast, for tests that only need a
// server. Process runs the real nats-server binary as a child process that a
// test can kill, stop and start again on the same port and storage, for tests
// of what survives a server crash. Both are gone when the test ends; a child
// server also dies with a crashed test process.
//
// It owns servers and connections for tests; it knows nothing of flusso's
// streams, subjects or events.
package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/internal/childproc"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is a NATS server with JetStream running inside the test process.
type Server struct {
	srv *server.Server
}

// Embedded starts a server in the test process with JetStream on file
// storage in a temporary folder, listening on a free port of 127.0.0.1. It is
// shut down when the test ends.
func Embedded(tb testing.TB) *Server {
	tb.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT, // the kernel picks: no race for the port
		JetStream: true,
		StoreDir:  tb.TempDir(), // removed after the shutdown below: cleanups run last-in first-out
		NoLog:     true,
		NoSigs:    true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("natstest: embedded server: %v", err)
	}
	srv.Start()
	tb.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		tb.Fatalf("natstest: the embedded server did not accept connections within 10s")
	}
	return &Server{srv: srv}
}

// URL returns the client URL of the server.
func (s *Server) URL() string { return s.srv.ClientURL() }

// Connect opens a connection to the server, closed when the test ends.
// opts come after the defaults and override them.
func (s *Server) Connect(tb testing.TB, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	return connect(tb, s.URL(), opts)
}

// JetStream returns a JetStream context on a new connection.
func (s *Server) JetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	return newJetStream(tb, s.Connect(tb))
}

func connect(tb testing.TB, url string, opts []nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name(tb.Name())}, opts...)...)
	if err != nil {
		tb.Fatalf("natstest: connect to %s: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

func newJetStream(tb testing.TB, nc *nats.Conn) jetstream.JetStream {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("natstest: jetstream: %v", err)
	}
	return js
}

// installHint says how to get the server binary.
const installHint = "install nats-server (Debian: apt-get install nats-server) or set FLUSSO_NATS_SERVER to its path"

// Binary finds the nats-server executable: $FLUSSO_NATS_SERVER, nats-server
// on the PATH, /usr/sbin/nats-server (Debian's, off the PATH of non-root
// users), or else one built from the nats-server module this module requires,
// kept in the user's cache folder.
func Binary() (string, error) {
	if path := os.Getenv("FLUSSO_NATS_SERVER"); path != "" {
		if isExecutable(path) {
			return path, nil
		}
		return "", fmt.Errorf("FLUSSO_NATS_SERVER=%s is not an executable: %s", path, installHint)
	}
	if path, err := exec.LookPath("nats-server"); err == nil {
		return path, nil
	}
	if isExecutable("/usr/sbin/nats-server") {
		return "/usr/sbin/nats-server", nil
	}
	path, err := build()
	if err != nil {
		return "", fmt.Errorf("nats-server is not installed (%s), and building it from the module failed: %w", installHint, err)
	}
	return path, nil
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// build compiles the nats-server of the version linked into this test binary
// into the user's cache folder, once per version: Go's build cache makes
// later builds of another version fast too. It needs the go command and
// a working directory inside a module that requires nats-server, which is
// where go test runs a test.
func build() (string, error) {
	// The package this test binary links says the version that go build
	// will compile: both come from the same module requirements.
	version := server.VERSION
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "flusso")
	path := filepath.Join(dir, "nats-server-v"+version)
	if isExecutable(path) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Build beside and rename, so that concurrent test binaries never run a
	// half-written file.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	out, err := exec.Command("go", "build", "-o", filepath.Join(tmp, "nats-server"), "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build github.com/nats-io/nats-server/v2: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "nats-server"), path); err != nil {
		return "", err
	}
	return path, nil
}

// ProcessServer is a nats-server child process with JetStream on file
// storage. Stop or Kill it and Start it again: it comes back on the same port
// with the same storage, so streams and their messages survive.
type ProcessServer struct {
	Port int
	Dir  string // JetStream storage
	Bin  string // the nats-server executable
	log  string

	mu   sync.Mutex         // serialises Start, Stop and Kill
	proc *childproc.Process // nil while down
	done bool               // the test ended: no more starts
}

// Process starts nats-server with JetStream as a child process on a free
// port of 127.0.0.1, storing in a temporary folder. It is killed when the
// test ends. Without the binary, the test fails saying how to install it.
func Process(tb testing.TB) *ProcessServer {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	dir := tb.TempDir() // removed after the kill below: cleanups run last-in first-out
	port, err := childproc.FreePort()
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	s := &ProcessServer{Port: port, Dir: filepath.Join(dir, "jetstream"), Bin: bin, log: filepath.Join(dir, "server.log")}
	tb.Cleanup(func() {
		s.Kill()
		s.mu.Lock()
		s.done = true
		s.mu.Unlock()
	})
	if err := s.Start(); err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	return s
}

// URL returns the client URL of the server, the same across restarts.
func (s *ProcessServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

// Connect opens a connection to the server, closed when the test ends.
// opts come after the defaults and override them: pass
// nats.MaxReconnects(-1) for a connection that outlives restarts.
func (s *ProcessServer) Connect(tb testing.TB, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	return connect(tb, s.URL(), opts)
}

// JetStream returns a JetStream context on a new connection.
func (s *ProcessServer) JetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	return newJetStream(tb, s.Connect(tb))
}

// Start starts the server if it is down and waits until JetStream answers.
func (s *ProcessServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errors.New("the server's test has ended")
	}
	if s.proc != nil {
		return nil
	}
	args := []string{"-js", "-sd", s.Dir, "-p", strconv.Itoa(s.Port), "-a", "127.0.0.1"}
	p, err := childproc.Start(childproc.Options{Name: "nats-server", Path: s.Bin, Args: args, Log: s.log})
	if err != nil {
		return err
	}
	s.proc = p
	if err := s.waitReady(p, 30*time.Second); err != nil {
		s.halt(syscall.SIGKILL)
		return err
	}
	return nil
}

// Stop shuts the server down gracefully (SIGTERM) and waits for it to exit.
func (s *ProcessServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.halt(syscall.SIGTERM)
}

// Kill kills the server (SIGKILL), as a crash would, and waits for it to
// exit. What JetStream acknowledged is on disk and survives.
func (s *ProcessServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.halt(syscall.SIGKILL)
}

// halt signals the server and waits for it, killing it after 10 seconds.
// The caller holds s.mu.
func (s *ProcessServer) halt(sig syscall.Signal) {
	p := s.proc
	if p == nil {
		return
	}
	if !p.Stop(sig, 10*time.Second) {
		p.Kill()
	}
	s.proc = nil
}

// waitReady polls until the port accepts connections and JetStream answers
// on it, or the process exits, or the deadline passes.
func (s *ProcessServer) waitReady(p *childproc.Process, timeout time.Duration) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	return p.WaitReady(timeout, "serve JetStream", func() error { return ping(addr, s.URL()) })
}

// ping checks that the server accepts a TCP connection, then a NATS client,
// then answers a JetStream request: JetStream may still be recovering its
// streams when the port opens.
func ping(addr, url string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	conn.Close()
	nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}
