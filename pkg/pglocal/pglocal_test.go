package pglocal

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/internal/proctree"
	"github.com/jackc/pgx/v5"
)

// parent returns a folder for servers that the postgres user may enter
// when the tests run as root (t.TempDir's parent is private to root).
func parent(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// A started server accepts connections with logical replication on; Stop
// ends it and its processes and removes its folder.
func TestStartAndStop(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Fatal(err)
	}
	base := parent(t)
	start := time.Now()
	s, err := Start(context.Background(), Options{Parent: base})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	t.Logf("PostgreSQL %s on port %d in %s", s.Version, s.Port, time.Since(start))
	if s.Version == "" {
		t.Error("no server version")
	}
	if filepath.Dir(s.Dir) != base {
		t.Errorf("folder %s is not in %s", s.Dir, base)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var level string
	var slots int
	if err := conn.QueryRow(ctx, "SELECT current_setting('wal_level'), current_setting('max_replication_slots')::int").Scan(&level, &slots); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if level != "logical" || slots < 4 {
		t.Errorf("wal_level = %s, max_replication_slots = %d; want logical and at least 4", level, slots)
	}
	pid := s.proc.Pid()
	children := proctree.Children(pid)
	if len(children) == 0 {
		t.Error("the postmaster has no children to check")
	}

	s.Stop()
	s.Stop() // a second Stop does nothing
	for _, p := range append(children, pid) {
		if proctree.Running(p) {
			t.Errorf("process %d of the server outlived Stop", p)
		}
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("folder %s left behind (%v)", s.Dir, err)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port), time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still accepts connections", s.Port)
	}
}

// A start interrupted by its context leaves nothing behind.
func TestStartCanceled(t *testing.T) {
	base := parent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s, err := Start(ctx, Options{Parent: base})
	if err == nil {
		s.Stop()
		t.Skip("the server started within 50ms: nothing to interrupt")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start() = %v, want the context's error", err)
	}
	if left, _ := os.ReadDir(base); len(left) > 0 {
		t.Errorf("left behind in %s: %v", base, left)
	}
}

// The server dies with a killed owner.
func TestServerDiesWithItsOwner(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux kills a child with its parent")
	}
	const env = "PGLOCAL_OWNER_DIR"
	if dir := os.Getenv(env); dir != "" {
		s, err := Start(context.Background(), Options{Parent: dir})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(s.proc.Pid())), 0o644)
		syscall.Kill(os.Getpid(), syscall.SIGKILL) // no cleanup, as a killed flusso
	}
	base := parent(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithItsOwner$")
	cmd.Env = append(os.Environ(), env+"="+base)
	out, _ := cmd.CombinedOutput()
	data, err := os.ReadFile(filepath.Join(base, "pid"))
	if err != nil {
		t.Fatalf("the owner started no server: %s", out)
	}
	pid, _ := strconv.Atoi(string(data))
	deadline := time.Now().Add(15 * time.Second)
	for proctree.Running(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postgres (pid %d) outlived its killed owner", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With FLUSSO_PG_BIN set, only that folder counts, and the error says how
// to install the server.
func TestBinDirMissing(t *testing.T) {
	t.Setenv(BinEnv, t.TempDir())
	_, err := BinDir()
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("BinDir() = %v, want ErrNotInstalled", err)
	}
	for _, want := range []string{"in " + BinEnv + "=", "sudo apt-get install postgresql", "brew install postgresql@16"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	_, err = Start(context.Background(), Options{Parent: t.TempDir()})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start() = %v, want ErrNotInstalled", err)
	}
}

func TestNewestFirst(t *testing.T) {
	got := newestFirst([]string{"/usr/lib/postgresql/9/bin", "/usr/lib/postgresql/16/bin", "/opt/homebrew/opt/postgresql@17/bin", "/usr/lib/postgresql/15/bin"})
	want := []string{"/opt/homebrew/opt/postgresql@17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/9/bin"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("newestFirst = %v, want %v", got, want)
	}
}
