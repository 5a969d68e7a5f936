package childproc

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func start(t *testing.T, log, script string) *Process {
	t.Helper()
	p, err := Start(Options{Name: "sh", Path: "/bin/sh", Args: []string{"-c", script}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// Both streams of every run go to the log, after what was there.
func TestLogAppendsEveryRun(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	for i := range 2 {
		p := start(t, log, "echo out "+strconv.Itoa(i)+"; echo err "+strconv.Itoa(i)+" >&2; exit 3")
		var exit *exec.ExitError
		if err := p.Wait(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
			t.Fatalf("Wait() = %v, want exit status 3", err)
		}
	}
	got, _ := os.ReadFile(log)
	if want := "out 0\nerr 0\nout 1\nerr 1\n"; string(got) != want {
		t.Fatalf("log = %q, want %q", got, want)
	}
}

func TestStartErrorNamesTheProgram(t *testing.T) {
	_, err := Start(Options{Name: "ghost", Path: "/nonexistent/ghost", Log: filepath.Join(t.TempDir(), "log")})
	if err == nil || !strings.HasPrefix(err.Error(), "start ghost: ") {
		t.Fatalf("Start() error = %v, want one starting with %q", err, "start ghost: ")
	}
}

// Stop reports a process that ignores the signal, for the caller to kill.
func TestStopAndKill(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	p := start(t, log, "exec sleep 60")
	if !p.Stop(syscall.SIGTERM, 5*time.Second) {
		t.Fatal("sleep outlived SIGTERM")
	}
	p = start(t, log, "trap '' TERM; echo trapped; while :; do sleep 0.01; done")
	if err := p.WaitReady(5*time.Second, "trap TERM", func() error {
		if data, _ := os.ReadFile(log); !strings.Contains(string(data), "trapped") {
			return errors.New("not yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p.Stop(syscall.SIGTERM, 100*time.Millisecond) {
		t.Fatal("a process that ignores SIGTERM exited on it")
	}
	p.Kill()
	if syscall.Kill(p.Pid(), 0) == nil {
		t.Fatal("the process is there after Kill")
	}
}

func TestWaitReady(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	p := start(t, log, "exec sleep 60")
	calls := 0
	if err := p.WaitReady(5*time.Second, "count to three", func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || calls != 3 {
		t.Fatalf("WaitReady() = %v after %d calls, want nil after 3", err, calls)
	}

	err := p.WaitReady(50*time.Millisecond, "answer", func() error { return errors.New("no answer") })
	if err == nil || !strings.HasPrefix(err.Error(), "sh did not answer within 50ms: no answer") {
		t.Fatalf("WaitReady() = %v, want a timeout", err)
	}

	p = start(t, log, "echo dying words; exit 1")
	err = p.WaitReady(5*time.Second, "answer", func() error { return errors.New("no answer") })
	if err == nil || !strings.HasPrefix(err.Error(), "sh exited during start (exit status 1):") || !strings.Contains(err.Error(), "dying words") {
		t.Fatalf("WaitReady() = %v, want the exit and the log", err)
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	l.Close()
}

func TestChildDiesWithACrashedTestProcess(t *testing.T) {
	CheckDiesWithCrashedTest(t, func() *Process {
		p, err := Start(Options{Name: "sleep", Path: "/bin/sleep", Args: []string{"60"}, Log: os.DevNull})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}
