// Package natsembed runs a NATS server with JetStream inside the flusso
// process, for `flusso run` on a single machine: its data lives on disk in
// the configured folder, so a restarted run resumes where it stopped. It
// owns the server's options, the folder's lock (one run per folder) and the
// file that tells the other flusso commands where the server listens.
package natsembed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// URLFile is the file in the data folder holding the client URL of the
// running embedded server.
const URLFile = "nats.url"

// Server is a running embedded NATS server.
type Server struct {
	srv  *server.Server
	dir  string
	lock *os.File
}

// Start starts a server that keeps its JetStream data in dir (created if
// missing) and listens on listen (host:port; port 0 picks a free one). It
// fails if another process runs a server on the same folder.
func Start(dir, listen string, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded NATS: data folder: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	host, port, err := splitListen(listen)
	if err != nil {
		lock.Close()
		return nil, err
	}
	opts := &server.Options{
		ServerName: "flusso-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true, // the flusso process handles its signals
		NoLog:      true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		lock.Close()
		return nil, fmt.Errorf("embedded NATS on %s: not ready within 30s (is the address taken?)", listen)
	}
	s := &Server{srv: srv, dir: dir, lock: lock}
	if err := os.WriteFile(filepath.Join(dir, URLFile), []byte(s.URL()+"\n"), 0o640); err != nil {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if log != nil {
		log.Info("embedded NATS started", "url", s.URL(), "data_dir", dir)
	}
	return s, nil
}

// URL is the server's client URL.
func (s *Server) URL() string { return s.srv.ClientURL() }

// Shutdown stops the server, waits for it, and releases the folder.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	_ = os.Remove(filepath.Join(s.dir, URLFile))
	_ = s.lock.Close() // releases the flock
}

// ReadURL returns the client URL a running embedded server wrote into dir,
// or "" when there is none.
func ReadURL(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, URLFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// lockDir takes an exclusive lock on dir/LOCK, released when the returned
// file is closed or the process ends.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			owner, _ := os.ReadFile(path)
			return nil, fmt.Errorf("embedded NATS: the data folder %s is in use by another flusso run (pid %s); stop it or choose another nats.data_dir", dir, strings.TrimSpace(string(owner)))
		}
		return nil, fmt.Errorf("embedded NATS: lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

func splitListen(listen string) (string, int, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("embedded NATS: nats.listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("embedded NATS: nats.listen %q: the port must be 0 to 65535", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}
