// Package childproc runs a server program as a child process of a test
// binary that dies with it: the packages that start servers for tests
// (pgtest, natstest) share it, and keep what is particular to their server
// (its arguments, how to tell that it is ready, how to stop it for good).
package childproc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Options say what to run and how.
type Options struct {
	Name string   // names the program in errors, such as "postgres"
	Path string   // the executable
	Args []string // its arguments
	Log  string   // file that stdout and stderr are appended to, so that it tells every run
	// Credential runs the process as another user; nil runs it as this one.
	Credential *syscall.Credential
	// DeathSignal is sent to the process when the test process dies, even
	// by a crash; SIGKILL when zero.
	DeathSignal syscall.Signal
}

// Process is one run of a program.
type Process struct {
	name    string
	log     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
	exitErr error         // read after exited is closed
}

// Start starts the program from a goroutine locked to its OS thread for the
// life of the process: Pdeathsig fires when the thread that forked dies, so
// the thread must live as long as the process. Once the process has exited
// the goroutine returns, and the runtime retires the still-locked thread with
// it. The process leads a process group of its own, so that a Ctrl-C at the
// terminal reaches the test binary, not the server behind its back.
func Start(o Options) (*Process, error) {
	logFile, err := os.OpenFile(o.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	deathSignal := o.DeathSignal
	if deathSignal == 0 {
		deathSignal = syscall.SIGKILL
	}
	p := &Process{name: o.Name, log: o.Log, exited: make(chan struct{})}
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		cmd := exec.Command(o.Path, o.Args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: o.Credential, Pdeathsig: deathSignal, Setpgid: true}
		if err := cmd.Start(); err != nil {
			logFile.Close()
			started <- fmt.Errorf("start %s: %w", o.Name, err)
			return
		}
		p.cmd = cmd
		started <- nil
		p.exitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Wait waits until the process has exited and returns how it ended.
func (p *Process) Wait() error {
	<-p.exited
	return p.exitErr
}

// Stop sends sig and waits up to grace for the process to exit. It reports
// whether the process exited; if not, the caller decides how to kill it.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) bool {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return true
	case <-time.After(grace):
		return false
	}
}

// Kill kills the process (SIGKILL) and waits until it has exited.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// WaitReady calls ready every 10 milliseconds until it returns nil, the
// process exits, or timeout passes. The errors hold the log, and say that
// the program did not do goal, such as "accept connections", in time.
func (p *Process) WaitReady(timeout time.Duration, goal string, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			log, _ := os.ReadFile(p.log)
			return fmt.Errorf("%s exited during start (%v):\n%s", p.name, p.exitErr, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(p.log)
			return fmt.Errorf("%s did not %s within %s: %v\n%s", p.name, goal, timeout, err, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FreePort returns a TCP port of 127.0.0.1 that is free now, for a server
// that must come back on the same port when restarted.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
