package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/internal/childproc"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestClusterServesIsolatedDatabases(t *testing.T) {
	start := time.Now()
	a, b := NewDatabase(t), NewDatabase(t)
	t.Logf("cluster and two databases in %s", time.Since(start))
	a.Exec(t, "CREATE TABLE only_in_a (id int); INSERT INTO only_in_a VALUES (1), (2)")
	ctx := context.Background()
	var n int
	if err := a.Pool(t).QueryRow(ctx, "SELECT count(*) FROM only_in_a").Scan(&n); err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}
	var exists bool
	if err := b.Pool(t).QueryRow(ctx, "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("the table leaked into another database: %v %v", exists, err)
	}
	var level string
	if err := a.Pool(t).QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil || level != "logical" {
		t.Fatalf("wal_level = %q, %v", level, err)
	}
}

func TestStartAndStop(t *testing.T) {
	c, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	if c.Version == "" {
		t.Error("no server version")
	}
	c.Stop()
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("data folder %s left behind (%v)", c.Dir, err)
	}
}

// Rows committed on a private cluster survive a clean restart and a crash,
// and a pool opened before finds the server again.
func TestPrivateClusterKeepsRowsAcrossRestarts(t *testing.T) {
	c := Private(t)
	db := c.NewDatabase(t)
	// Committed with synchronous_commit=on: a crash may lose asynchronous
	// commits, as it would in production.
	db.Exec(t, "SET synchronous_commit = on; CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept SELECT generate_series(1, 100)")
	pool := db.Pool(t)
	ctx := context.Background()
	count := func(when string) {
		t.Helper()
		var n int
		// A pooled connection broken by the restart fails once; the pool
		// then drops it and opens a new one.
		err := pool.QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n)
		if err != nil {
			err = pool.QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n)
		}
		if err != nil || n != 100 {
			t.Fatalf("%s: count = %d, %v; want 100", when, n, err)
		}
	}
	count("before")
	pid := c.proc.Pid()

	start := time.Now()
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart in %s", time.Since(start))
	if c.proc.Pid() == pid {
		t.Fatal("Restart kept the same postmaster")
	}
	count("after a restart")

	start = time.Now()
	if err := c.Crash(); err != nil {
		t.Fatal(err)
	}
	t.Logf("crash and recovery in %s", time.Since(start))
	count("after a crash")
	log, _ := os.ReadFile(filepath.Join(c.Dir, "server.log"))
	if !strings.Contains(string(log), "not properly shut down") {
		t.Errorf("the server did not recover from a crash; its log:\n%s", log)
	}
}

// A test can hold the server down, then bring it back.
func TestKillAndShutdownLeaveTheServerDown(t *testing.T) {
	c := Private(t)
	db := c.NewDatabase(t)
	db.Exec(t, "SET synchronous_commit = on; CREATE TABLE t (id int)") // a Kill may lose asynchronous commits
	ctx := context.Background()
	for _, down := range []struct {
		name string
		do   func()
	}{{"Kill", c.Kill}, {"Shutdown", c.Shutdown}} {
		down.do()
		if conn, err := pgx.Connect(ctx, db.URL); err == nil {
			conn.Close(ctx)
			t.Fatalf("connected after %s", down.name)
		}
		if err := c.Restart(); err != nil {
			t.Fatalf("restart after %s: %v", down.name, err)
		}
		db.Exec(t, "INSERT INTO t VALUES (1)")
	}
	c.Stop()
	if err := c.Restart(); err == nil {
		t.Fatal("a stopped cluster restarted")
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("data folder %s left behind (%v)", c.Dir, err)
	}
}

// A killed server leaves a System V shared memory segment (and files in
// /dev/shm) that Stop has postgres remove.
func TestStopAfterKillLeavesNoSharedMemory(t *testing.T) {
	c := Private(t)
	pidFile, err := os.ReadFile(filepath.Join(c.Dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	// Line 7 holds the key and the ID of the segment.
	lines := strings.Split(string(pidFile), "\n")
	var key, id int
	if len(lines) < 7 {
		t.Fatalf("postmaster.pid: %q", pidFile)
	}
	if _, err := fmt.Sscan(lines[6], &key, &id); err != nil {
		t.Fatalf("postmaster.pid line 7 %q: %v", lines[6], err)
	}
	segmentExists := func() bool {
		data, err := os.ReadFile("/proc/sysvipc/shm")
		if err != nil {
			t.Skipf("no System V shared memory list: %v", err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			if f := strings.Fields(line); len(f) > 1 && f[1] == strconv.Itoa(id) {
				return true
			}
		}
		return false
	}
	if !segmentExists() {
		t.Fatalf("shared memory segment %d not found while the server runs", id)
	}
	c.Kill()
	if !segmentExists() {
		t.Fatalf("shared memory segment %d gone after a kill: nothing left to test", id)
	}
	c.Stop()
	if segmentExists() {
		t.Fatalf("shared memory segment %d left behind by Stop after Kill", id)
	}
}

func TestMissingBinariesSayHowToInstall(t *testing.T) {
	t.Setenv("FLUSSO_PG_BIN", t.TempDir())
	_, err := Start()
	if err == nil || !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Fatalf("Start() error = %v, want one saying how to install the server", err)
	}
}

// A test binary that dies without cleaning up takes its server with it.
func TestServerDiesWithACrashedTestProcess(t *testing.T) {
	childproc.CheckDiesWithCrashedTest(t, func() *childproc.Process {
		c, err := Start()
		if err != nil {
			t.Fatal(err)
		}
		return c.proc // no Stop
	})
}
