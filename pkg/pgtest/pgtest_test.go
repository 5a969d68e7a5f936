package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
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

func TestMissingBinariesSayHowToInstall(t *testing.T) {
	t.Setenv("FLUSSO_PG_BIN", t.TempDir())
	_, err := Start()
	if err == nil || !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Fatalf("Start() error = %v, want one saying how to install the server", err)
	}
}

// A test binary that dies without cleaning up takes its server with it.
func TestServerDiesWithACrashedTestProcess(t *testing.T) {
	if os.Getenv("PGTEST_CRASH_CHILD") != "" {
		c, err := Start()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("pid %d\n", c.cmd.Process.Pid)
		os.Exit(3) // no Stop, no cleanup: as if the test binary crashed
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithACrashedTestProcess$")
	cmd.Env = append(os.Environ(), "PGTEST_CRASH_CHILD=1")
	out, _ := cmd.Output()
	var pid int
	if _, err := fmt.Sscanf(string(out), "pid %d", &pid); err != nil {
		t.Fatalf("the child printed %q", out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postgres (pid %d) outlived its crashed test process", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
