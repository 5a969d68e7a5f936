// Package pglocal runs a throwaway PostgreSQL server from the local
// binaries, for flusso demo: a fresh cluster in a temporary folder, trust
// authentication on 127.0.0.1 and a free port, logical replication enabled.
// The server dies with the flusso process, even when that one is killed,
// and Stop removes every file it made.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flusso-go/flusso/pkg/internal/proctree"
	"github.com/jackc/pgx/v5"
)

// BinEnv names the variable that points at the folder of initdb and
// postgres; when set, no other place is searched.
const BinEnv = "FLUSSO_PG_BIN"

// InstallHint says how to get the server binaries.
const InstallHint = "Install the PostgreSQL server:\n" +
	"  Debian/Ubuntu:  sudo apt-get install postgresql\n" +
	"  macOS:          brew install postgresql@16\n" +
	"or set " + BinEnv + " to the folder that holds initdb and postgres."

// ErrNotInstalled is wrapped by the error of a search that found no server
// binaries; the error's text includes InstallHint.
var ErrNotInstalled = errors.New("the PostgreSQL server binaries (initdb, postgres) were not found")

// searchGlobs are the folders searched after /usr/lib/postgresql and PATH:
// Homebrew installs postgresql@N keg-only, off PATH.
var searchGlobs = []string{
	"/opt/homebrew/opt/postgresql@*/bin",
	"/usr/local/opt/postgresql@*/bin",
	"/opt/homebrew/opt/postgresql/bin",
	"/usr/local/opt/postgresql/bin",
	"/Applications/Postgres.app/Contents/Versions/*/bin",
}

// BinDir finds the folder holding initdb and postgres: $FLUSSO_PG_BIN
// alone when set; else the newest /usr/lib/postgresql/*/bin, a folder on
// PATH, or a Homebrew or Postgres.app install.
func BinDir() (string, error) {
	if dir := os.Getenv(BinEnv); dir != "" {
		if hasBinaries(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w in %s=%s.\n%s", ErrNotInstalled, BinEnv, dir, InstallHint)
	}
	candidates := newestFirst(glob("/usr/lib/postgresql/*/bin"))
	candidates = append(candidates, filepath.SplitList(os.Getenv("PATH"))...)
	for _, g := range searchGlobs {
		candidates = append(candidates, newestFirst(glob(g))...)
	}
	for _, dir := range candidates {
		if dir != "" && hasBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w under /usr/lib/postgresql, on PATH or in Homebrew's folders.\n%s", ErrNotInstalled, InstallHint)
}

func hasBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

func glob(pattern string) []string {
	dirs, _ := filepath.Glob(pattern)
	return dirs
}

// newestFirst orders folders like /usr/lib/postgresql/16/bin or
// .../postgresql@16/bin by their major version, highest first.
func newestFirst(dirs []string) []string {
	version := func(dir string) int {
		name := filepath.Base(filepath.Dir(dir))
		v, _ := strconv.Atoi(name[strings.LastIndexAny(name, "@/")+1:])
		return v
	}
	sort.SliceStable(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs
}

// Options say where the server lives.
type Options struct {
	// Parent is the folder the server's own temporary folder is made in;
	// "" is the system's temporary folder.
	Parent string
	// BinDir holds initdb and postgres; "" searches with BinDir.
	BinDir string
}

// Server is a running throwaway PostgreSQL server.
type Server struct {
	Port    int
	Dir     string // the server's folder: data, log; removed by Stop
	BinDir  string
	Version string // server_version, such as "15.19 (Debian 15.19-0+deb12u1)"

	proc process
	stop sync.Once
}

// URL returns the connection URL of database db as the superuser postgres.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Start creates a cluster in a new folder and starts its server, waiting
// until it accepts connections. When ctx ends first, it stops and removes
// what it started. As root, the server runs as the postgres user, since
// PostgreSQL refuses to run as root: the folder and every folder above it
// must let that user in.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin := o.BinDir
	if bin == "" {
		var err error
		if bin, err = BinDir(); err != nil {
			return nil, err
		}
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	parent := o.Parent
	if parent == "" {
		parent = os.TempDir()
	}
	if parent, err = filepath.Abs(parent); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := enterable(parent, cred); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp(parent, "postgres-")
	if err != nil {
		return nil, fmt.Errorf("postgres folder: %w", err)
	}
	s := &Server{Dir: dir, BinDir: bin}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("postgres folder: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	if err := initdb(ctx, bin, data, cred); err != nil {
		return nil, err
	}
	// A port found free may be taken before the server binds it: try again.
	for attempt := 1; ; attempt++ {
		err := s.start(ctx, data, cred)
		if err == nil {
			break
		}
		if attempt == 3 || !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// serverUser returns the user the server runs as, nil for this process's.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root, and there is no postgres user to run it as (%v): run flusso as another user, or create one (Debian: adduser --system --group postgres)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// enterable tells whether the server's user may pass through dir and every
// folder above it, so that the failure names the folder rather than being
// initdb's "permission denied".
func enterable(dir string, cred *syscall.Credential) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		perm := st.Mode().Perm()
		ok := perm&0o001 != 0
		if sys, isStat := st.Sys().(*syscall.Stat_t); isStat {
			ok = ok || (sys.Uid == cred.Uid && perm&0o100 != 0) || (sys.Gid == cred.Gid && perm&0o010 != 0)
		}
		if !ok {
			return fmt.Errorf("the postgres user, which runs the server since this process is root, cannot enter %s: set TMPDIR to a folder it can enter (such as /tmp)", d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// initdb creates the cluster, with the superuser postgres and trust
// authentication: the server listens on 127.0.0.1 only and lives minutes.
func initdb(ctx context.Context, bin, data string, cred *syscall.Credential) error {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C")
	cmd.Dir = filepath.Dir(data)
	out, err := combinedOutputDyingWithUs(cmd, cred)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

var errPortTaken = errors.New("port taken")

// start runs the postmaster on a free port and waits until it accepts
// connections. SIGQUIT, the postmaster's immediate shutdown, takes its
// backends with it when this process dies.
func (s *Server) start(ctx context.Context, data string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	log := filepath.Join(s.Dir, "server.log")
	p, err := spawn(spawnOptions{
		Path: filepath.Join(s.BinDir, "postgres"), Log: log,
		Args: []string{
			"-D", data, "-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories=", // TCP only: no socket path to outgrow
			"-c", "wal_level=logical", "-c", "max_replication_slots=10", "-c", "max_wal_senders=10",
			// Throwaway data: durability buys nothing.
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "log_min_messages=warning", "-c", "logging_collector=off",
		},
		Credential: cred, DeathSignal: syscall.SIGQUIT,
	})
	if err != nil {
		return err
	}
	s.proc, s.Port = p, port
	var version string
	err = p.WaitReady(60*time.Second, "accept connections", func() error {
		if ctx.Err() != nil {
			return nil // stop waiting; the caller sees ctx.Err
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := pgx.Connect(cctx, s.URL("postgres"))
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return conn.QueryRow(cctx, "SHOW server_version").Scan(&version)
	})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		s.halt()
		if logText, _ := os.ReadFile(log); strings.Contains(string(logText), "could not bind") {
			_ = os.Remove(log)
			return fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return err
	}
	s.Version = version
	return nil
}

// Stop shuts the server down (fast shutdown, then kill after 10 seconds)
// and removes its folder. It may be called more than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		s.halt()
		_ = os.RemoveAll(s.Dir)
	})
}

// halt stops the running server, if any, and waits until it and its
// children are gone.
func (s *Server) halt() {
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	if !p.Stop(syscall.SIGINT, 10*time.Second) {
		proctree.KillTree(p.Pid(), p.Wait)
	}
}

// freePort returns a TCP port of 127.0.0.1 that is free now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is a running server program.
type process interface {
	Pid() int
	Wait() error
	// Stop sends sig and reports whether the process exited within grace.
	Stop(sig syscall.Signal, grace time.Duration) bool
	// WaitReady polls ready until it returns nil, the process exits or
	// timeout passes; its errors hold the log.
	WaitReady(timeout time.Duration, goal string, ready func() error) error
}

// spawnOptions say what to run and how.
type spawnOptions struct {
	Path       string
	Args       []string
	Log        string // stdout and stderr are appended to it
	Credential *syscall.Credential
	// DeathSignal is sent to the process when this one dies, where the
	// system can (Linux).
	DeathSignal syscall.Signal
}
