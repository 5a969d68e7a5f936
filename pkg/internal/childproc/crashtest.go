package childproc

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// crashEnv names, in the test binary run again, the test to crash.
const crashEnv = "CHILDPROC_CRASH_TEST"

// CheckDiesWithCrashedTest is the body of a top-level test checking that a
// process started by start dies with a test binary that crashes: it runs the
// test binary again with only test t, where start is called and the binary
// then exits without cleaning up, and waits for the process to be gone.
func CheckDiesWithCrashedTest(t *testing.T, start func() *Process) {
	t.Helper()
	if os.Getenv(crashEnv) == t.Name() {
		p := start()
		fmt.Printf("pid %d %s\n", p.Pid(), p.name)
		os.Exit(3) // no cleanup: as if the test binary crashed
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$")
	cmd.Env = append(os.Environ(), crashEnv+"="+t.Name())
	out, _ := cmd.Output()
	var pid int
	var name string
	if _, err := fmt.Sscanf(string(out), "pid %d %s", &pid, &name); err != nil {
		t.Fatalf("the child printed %q", out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("%s (pid %d) outlived its crashed test process", name, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
