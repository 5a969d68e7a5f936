// Package pgtest runs throwaway PostgreSQL clusters for tests: initdb into a
// temporary folder, a free port, logical replication enabled and durability
// off. One cluster serves a whole test binary and each test gets its own
// database; a test that restarts or crashes the server takes a private
// cluster. Every cluster dies with the test process, even when it crashes.
//
// A package using it wires its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/internal/childproc"
	"github.com/flusso-go/flusso/pkg/internal/proctree"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Cluster is a PostgreSQL server owned by this process. It may be shut
// down, killed and restarted on the same port and data until Stop removes it.
type Cluster struct {
	Port    int
	Dir     string // data directory (removed by Stop)
	BinDir  string
	Version string

	path    string // the postgres executable
	args    []string
	cred    *syscall.Credential
	private bool // owned by one test: its databases go with it

	mu      sync.Mutex         // serialises Restart, Shutdown, Kill and Stop
	proc    *childproc.Process // the running postmaster, nil while down
	killed  bool               // killed since the last start: see Stop
	stopped bool
}

// URL returns the connection URL of database db as the superuser.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// installHint says how to get the server binaries.
const installHint = "install PostgreSQL 15 (Debian: apt-get install postgresql-15, or postgresql) or set FLUSSO_PG_BIN to the folder holding initdb and postgres"

// BinDir finds the folder of initdb and postgres: $FLUSSO_PG_BIN, pg_config
// --bindir, or the newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	has := func(dir string) bool {
		_, err1 := os.Stat(filepath.Join(dir, "initdb"))
		_, err2 := os.Stat(filepath.Join(dir, "postgres"))
		return err1 == nil && err2 == nil
	}
	if dir := os.Getenv("FLUSSO_PG_BIN"); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("FLUSSO_PG_BIN=%s holds no initdb and postgres: %s", dir, installHint)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	return "", errors.New("the PostgreSQL server binaries (initdb, postgres) are not installed: " + installHint)
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start creates and starts a new cluster. As root, the server runs as the
// postgres user, since PostgreSQL refuses to run as root.
func Start() (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a postgres user to run the server: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	removeStale()
	// Not t.TempDir: its parent is private to root, and postgres must enter.
	dir, err := os.MkdirTemp(baseDir(), "flusso-pg-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	template, err := templateCluster(bin, cred)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Copying an initialised cluster is ten times faster than initdb.
	if out, err := exec.Command("cp", "-a", template, data).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("copy the template cluster: %v\n%s", err, out)
	}
	port, err := childproc.FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &Cluster{Port: port, Dir: dir, BinDir: bin, path: filepath.Join(bin, "postgres"), cred: cred}
	c.args = []string{
		"-D", data, "-p", strconv.Itoa(port), "-h", "127.0.0.1", "-k", dir,
		"-c", "wal_level=logical", "-c", "max_replication_slots=32", "-c", "max_wal_senders=32",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=128MB", "-c", "TimeZone=UTC", "-c", "jit=off",
		"-c", "log_min_messages=warning", "-c", "logging_collector=off",
	}
	if err := c.start(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Private starts a cluster for one test, stopped when the test ends: for a
// test that restarts, crashes or reconfigures the server, which must not do
// that to the shared one. Without the server binaries, the test fails saying
// how to install them.
func Private(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := Start()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	c.private = true
	tb.Cleanup(c.Stop)
	return c
}

// start runs the postmaster and waits until it accepts connections. The
// caller holds c.mu, or owns c alone. SIGQUIT, the postmaster's immediate
// shutdown, takes its backends with it when the test process dies.
func (c *Cluster) start() error {
	p, err := childproc.Start(childproc.Options{
		Name: "postgres", Path: c.path, Args: c.args, Log: filepath.Join(c.Dir, "server.log"),
		Credential: c.cred, DeathSignal: syscall.SIGQUIT,
	})
	if err != nil {
		return err
	}
	c.proc = p
	if err := c.waitReady(p, 30*time.Second); err != nil {
		c.halt(syscall.SIGKILL)
		c.killed = false // Stop must not wait for another failed start
		return err
	}
	c.killed = false // a started server has removed what the killed one left
	return nil
}

// Restart shuts the server down fast if it runs, then starts it again on the
// same port, data and settings, and waits until it accepts connections.
// Connections open before are broken; pools reconnect.
func (c *Cluster) Restart() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("restart: the cluster was stopped for good")
	}
	c.halt(syscall.SIGINT)
	return c.start()
}

// Crash kills the server and all its processes (SIGKILL), as a power cut
// would to the processes but not to the files, and starts it again: the
// server recovers from its WAL. Commits made with synchronous_commit=off,
// the cluster's default, within the last few hundred milliseconds may be
// lost, as on a real crash; a test that needs them kept commits with
// synchronous_commit=on.
func (c *Cluster) Crash() error {
	c.Kill()
	return c.Restart()
}

// Kill kills the server and all its processes (SIGKILL) and leaves it down
// until Restart.
func (c *Cluster) Kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.halt(syscall.SIGKILL)
}

// Shutdown stops the server fast and leaves it down, files kept, until
// Restart.
func (c *Cluster) Shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.halt(syscall.SIGINT)
}

// halt signals the server and waits until it and its children are gone,
// killing them all after 10 seconds. SIGINT is a fast shutdown; SIGKILL kills
// every process of the server at once. The caller holds c.mu.
func (c *Cluster) halt(sig syscall.Signal) {
	p := c.proc
	if p == nil {
		return
	}
	c.proc = nil
	if sig == syscall.SIGKILL || !p.Stop(sig, 10*time.Second) {
		proctree.KillTree(p.Pid(), p.Wait)
		c.killed = true
	}
}

// baseDir is where clusters live: $FLUSSO_PGTEST_DIR, else /dev/shm, whose
// memory-backed files make a cluster start several times faster than on
// disk, else the temporary folder.
func baseDir() string {
	if dir := os.Getenv("FLUSSO_PGTEST_DIR"); dir != "" {
		return dir
	}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() && syscall.Access("/dev/shm", 2) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

// templateCluster returns a data folder initialised once per machine and
// server version, kept beside the clusters (where postgres can enter), to be
// copied.
func templateCluster(bin string, cred *syscall.Credential) (string, error) {
	version, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", filepath.Join(bin, "postgres"), err)
	}
	sum := sha256.Sum256(append([]byte(bin), version...))
	root := filepath.Join(baseDir(), "flusso-pgtemplate")
	template := filepath.Join(root, hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(template, "PG_VERSION")); err == nil {
		return template, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	// Build beside and rename, so that concurrent test binaries never see a
	// half-made template.
	tmp, err := os.MkdirTemp(root, "init-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "data")
	if cred != nil {
		if err := os.Chown(tmp, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := os.Rename(data, template); err != nil && !errors.Is(err, os.ErrExist) {
		if _, statErr := os.Stat(filepath.Join(template, "PG_VERSION")); statErr != nil {
			return "", err
		}
	}
	return template, nil
}

// waitReady waits until the server accepts connections, then reads its
// version.
func (c *Cluster) waitReady(p *childproc.Process, timeout time.Duration) error {
	var conn *pgx.Conn
	err := p.WaitReady(timeout, "accept connections", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		conn, err = pgx.Connect(ctx, c.URL("postgres"))
		return err
	})
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(context.Background(), "SHOW server_version").Scan(&c.Version)
}

// removeStale deletes the folders of clusters whose test process crashed:
// their server died with it, but the files stayed. Each folder names its
// owner in owner.pid.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(baseDir(), "flusso-pg-*"))
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue // being created
		}
		if pid, _ := strconv.Atoi(string(owner)); pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(dir)
		}
	}
}

// Stop shuts the server down fast and removes its files, for good.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.stopped = true
	c.halt(syscall.SIGINT)
	// A killed server leaves shared memory outside its folder (a System V
	// segment, files in /dev/shm) that only postgres knows how to find: a
	// start and a clean shutdown remove them.
	if c.killed && c.start() == nil {
		c.halt(syscall.SIGINT)
	}
	os.RemoveAll(c.Dir)
}

var shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

// Main runs the tests of a package and stops the shared cluster afterwards.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.Stop()
	}
	return code
}

// Shared returns the cluster of this test binary, starting it on first use.
// Without the server binaries, the test fails saying how to install them.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	shared.once.Do(func() { shared.cluster, shared.err = Start() })
	if shared.err != nil {
		tb.Fatalf("pgtest: %v", shared.err)
	}
	return shared.cluster
}

// Database is a database of its own for one test.
type Database struct {
	Name    string
	URL     string
	Cluster *Cluster
}

// NewDatabase creates an empty database on the shared cluster, dropped when
// the test ends.
func NewDatabase(tb testing.TB) *Database {
	tb.Helper()
	return Shared(tb).NewDatabase(tb)
}

// NewDatabase creates an empty database on the cluster, dropped when the test
// ends (on a private cluster, with the cluster).
func (c *Cluster) NewDatabase(tb testing.TB) *Database {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	// FILE_COPY: with fsync off, copying the template's files beats writing
	// them all to the WAL.
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" STRATEGY FILE_COPY"); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	db := &Database{Name: name, URL: c.URL(name), Cluster: c}
	if c.private {
		return db
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		admin, err := pgx.Connect(ctx, c.URL("postgres"))
		if err != nil {
			return
		}
		defer admin.Close(ctx)
		// Replication slots pin the database; tests that made one drop it.
		_, _ = admin.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active", name)
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return db
}

// Pool opens a connection pool on the database, closed when the test ends.
func (d *Database) Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), d.URL)
	if err != nil {
		tb.Fatalf("pgtest: pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Exec runs SQL (several statements allowed) and fails the test on error.
func (d *Database) Exec(tb testing.TB, sql string) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	// The simple protocol runs a whole script in one round trip.
	if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		tb.Fatalf("pgtest: %v\n%.2000s", err, sql)
	}
}

// ExecFiles runs SQL files in order.
func (d *Database) ExecFiles(tb testing.TB, paths ...string) {
	tb.Helper()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
		d.Exec(tb, string(data))
	}
}
