//go:build !linux

package pglocal

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Without Pdeathsig (Linux only) the server outlives a killed flusso; Stop
// still ends it on every orderly exit.

type plainProcess struct {
	cmd     *exec.Cmd
	log     string
	exited  chan struct{}
	exitErr error
}

func spawn(o spawnOptions) (process, error) {
	logFile, err := os.OpenFile(o.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Path, o.Args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C at the terminal reaches flusso, which
	// then stops the server in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: o.Credential, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p := &plainProcess{cmd: cmd, log: o.Log, exited: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *plainProcess) Pid() int { return p.cmd.Process.Pid }

func (p *plainProcess) Wait() error {
	<-p.exited
	return p.exitErr
}

func (p *plainProcess) Stop(sig syscall.Signal, grace time.Duration) bool {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return true
	case <-time.After(grace):
		return false
	}
}

func (p *plainProcess) WaitReady(timeout time.Duration, goal string, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			log, _ := os.ReadFile(p.log)
			return fmt.Errorf("postgres exited during start (%v):\n%s", p.exitErr, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(p.log)
			return fmt.Errorf("postgres did not %s within %s: %v\n%s", goal, timeout, err, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func combinedOutputDyingWithUs(cmd *exec.Cmd, cred *syscall.Credential) ([]byte, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd.CombinedOutput()
}
